"""The command centre's web console (指挥中心控制台), served by the API process under /console.

`add_console_routes` is a `configure` function of `ApiService`. The console
authenticates with its own session cookie, so its routes are registered as
foreign to the API's bearer-token check and stay out of the OpenAPI document.
"""

import logging

from aiohttp import web

from dispatcher.api.context import ApiContext
from dispatcher.api.routing import ROUTE_TABLE
from dispatcher.console import (
    routes_auth,
    routes_directives,
    routes_map,
    routes_stats,
    routes_tasks,
    routes_triage,
)
from dispatcher.console.events import HUB, EventHub, event_stream
from dispatcher.console.routes_auth import STATIC_DIR
from dispatcher.console.session import Handler, signed_in
from dispatcher.console.stores import FILES
from storage.files import open_file_store

log = logging.getLogger(__name__)

PATH = "/console/"

_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/console", routes_auth.redirect_to_index),
    ("GET", "/console/", routes_auth.index),
    ("GET", "/console/i18n.json", routes_auth.i18n_catalog),
    ("POST", "/console/api/login", routes_auth.login),
    ("POST", "/console/api/logout", routes_auth.logout),
    ("GET", "/console/api/me", routes_auth.me),
    ("POST", "/console/api/language", routes_auth.change_language),
    ("GET", "/console/api/divisions", routes_map.divisions),
    ("GET", "/console/api/map", routes_map.map_view),
    ("GET", "/console/api/grids/{code}", routes_map.grid),
    ("GET", "/console/api/tasks", routes_tasks.list_tasks),
    ("GET", "/console/api/tasks/{task_id}", routes_tasks.show_task),
    ("GET", "/console/api/tasks/{task_id}/photos/{photo_id}", routes_tasks.download_photo),
    ("GET", "/console/api/tasks/{task_id}/receipt.pdf", routes_tasks.download_receipt),
    ("GET", "/console/api/directives", routes_directives.list_recent),
    ("POST", "/console/api/directives", routes_directives.issue),
    ("GET", "/console/api/directives/{message_id}", routes_directives.show),
    ("POST", "/console/api/directives/{message_id}/cancel", routes_directives.cancel),
    ("GET", "/console/api/triage", routes_triage.queue),
    ("POST", "/console/api/triage/{lead_id}/route", routes_triage.route),
    ("GET", "/console/api/stats", routes_stats.stats),
    ("GET", "/console/api/stats.xlsx", routes_stats.export_xlsx),
    ("GET", "/console/api/events", signed_in(event_stream)),
]


def add_console_routes(app: web.Application, context: ApiContext) -> None:
    """Add the console's pages, JSON routes, event stream and static files to the API app."""
    table = app[ROUTE_TABLE]
    for method, path, handler in _ROUTES:
        table.add_foreign(app.router.add_route(method, path, handler))
    for route in app.router.add_static("/console/static", STATIC_DIR):
        table.add_foreign(route)
    app[HUB] = EventHub(context.js)
    app[FILES] = open_file_store(context.settings, clock=context.clock)
    app.on_startup.append(_start)
    app.on_shutdown.append(_close_streams)
    app.on_cleanup.append(_close_files)
    log.info("console routes added routes=%d", len(_ROUTES))


async def _start(app: web.Application) -> None:
    await app[FILES].start()
    await app[HUB].start()


async def _close_streams(app: web.Application) -> None:
    await app[HUB].close()


async def _close_files(app: web.Application) -> None:
    await app[FILES].close()
