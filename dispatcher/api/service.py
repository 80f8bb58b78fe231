"""The API component: the aiohttp application on a host and port, with its own NATS connection."""

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from aiohttp import web
from nats.aio.client import Client
from nats.errors import Error as NatsError

from dispatcher.api.app import create_app
from dispatcher.api.context import ApiContext
from dispatcher.api.routing import PREFIX, Route
from griddispatch.clock import Clock
from griddispatch.errors import ConfigurationError
from griddispatch.nats_connection import connect
from griddispatch.settings import Settings
from griddispatch.streams import ensure_streams
from storage.api_tokens.cache import VerifiedTokens
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.files import FileStore, open_file_store

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 10.0


class ApiService:
    """Serves the HTTP API until stopped.

    `configure` functions run on the application before it starts, to add
    routes as the hooks do (`dispatcher.hooks.add_hook_routes`). Photos are read
    from `files`, by default the store the settings name; the service starts and
    closes it.
    """

    def __init__(
        self,
        *,
        nats_url: str,
        db: Database,
        escalation: Escalation,
        clock: Clock,
        settings: Settings,
        host: str,
        port: int,
        extra_routes: Sequence[Route] = (),
        configure: Sequence[Callable[[web.Application, ApiContext], None]] = (),
        files: FileStore | None = None,
    ) -> None:
        self._nats_url = nats_url
        self._db = db
        self._escalation = escalation
        self._clock = clock
        self._settings = settings
        self._host = host
        self._port = port
        self._extra_routes = extra_routes
        self._configure = configure
        self._files = files if files is not None else open_file_store(settings, clock=clock)
        self._files_started = False
        self._verified_tokens = VerifiedTokens(timedelta(seconds=settings.token_cache_s), clock)
        self._client: Client | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """The URL of the API, with the port the server bound (port 0 picks a free one)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the API is not running; call start() first")
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}{PREFIX}"

    async def start(self) -> None:
        """Check the file store, connect to NATS, make sure the streams exist, and listen."""
        await self._files.start()
        self._files_started = True
        self._client = await connect(self._nats_url, name="griddispatch-api")
        js = self._client.jetstream()
        await ensure_streams(js)
        context = ApiContext(
            db=self._db,
            js=js,
            escalation=self._escalation,
            clock=self._clock,
            settings=self._settings,
            files=self._files,
            verified_tokens=self._verified_tokens,
        )
        app = create_app(context, extra_routes=self._extra_routes)
        for add_routes in self._configure:
            add_routes(app, context)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S, handle_signals=False
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise ConfigurationError(
                "the API cannot listen on {host}:{port} ({reason}); "
                "set GRIDDISPATCH_API_HOST and GRIDDISPATCH_API_PORT to a free address",
                host=self._host,
                port=self._port,
                reason=exc.strerror,
            ) from exc
        log.info("api started url=%s token_cache_s=%g", self.base_url, self._settings.token_cache_s)

    async def stop(self) -> None:
        """Finish the requests in flight, stop listening, close NATS and the file store."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._close_nats(self._client)
            self._client = None
        if self._files_started:
            await self._files.close()
            self._files_started = False
        log.info("api stopped")

    @staticmethod
    async def _close_nats(client: Client) -> None:
        """Drain the connection, or close it when NATS cannot be reached to drain."""
        try:
            if client.is_connected:
                await client.drain()
                return
            await client.close()
        except (NatsError, OSError) as exc:
            log.info("nats connection closed while NATS was unreachable error=%r", exc)
