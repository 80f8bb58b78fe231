"""The dependencies of every request handler, stored on the application."""

from dataclasses import dataclass

from aiohttp import web
from nats.js import JetStreamContext

from griddispatch.clock import Clock
from griddispatch.settings import Settings
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.files import FileStore


@dataclass(frozen=True)
class ApiContext:
    """The database, JetStream, the escalation set-up, the clock, the settings and file store."""

    db: Database
    js: JetStreamContext
    escalation: Escalation
    clock: Clock
    settings: Settings
    files: FileStore


CONTEXT = web.AppKey("griddispatch_api_context", ApiContext)


def context_of(request: web.Request) -> ApiContext:
    """Return the context of the application that serves `request`."""
    return request.app[CONTEXT]
