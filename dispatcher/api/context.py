"""The dependencies of every request handler, stored on the application."""

from dataclasses import dataclass

from aiohttp import web
from nats.js import JetStreamContext

from griddispatch.clock import Clock
from griddispatch.settings import Settings
from storage.api_tokens.cache import VerifiedTokens
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.files import FileStore


@dataclass(frozen=True)
class ApiContext:
    """The database, JetStream, the escalation set-up, the clock, the settings and file store.

    `verified_tokens` is the process's one cache of verified API tokens, read
    by the auth middleware and by the hooks.
    """

    db: Database
    js: JetStreamContext
    escalation: Escalation
    clock: Clock
    settings: Settings
    files: FileStore
    verified_tokens: VerifiedTokens


CONTEXT = web.AppKey("griddispatch_api_context", ApiContext)


def context_of(request: web.Request) -> ApiContext:
    """Return the context of the application that serves `request`."""
    return request.app[CONTEXT]
