"""The interface between the hook handlers and the application that mounts them."""

from typing import Protocol

from nats.js import JetStreamContext

from griddispatch.clock import Clock
from griddispatch.settings import Settings
from storage.api_tokens.cache import VerifiedTokens
from storage.db import Database


class HookContext(Protocol):
    """The database, JetStream, the clock, the settings and the verified-token cache.

    The API's context has all five, so hooks mounted on the API share its cache.
    """

    @property
    def db(self) -> Database: ...

    @property
    def js(self) -> JetStreamContext: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def verified_tokens(self) -> VerifiedTokens: ...
