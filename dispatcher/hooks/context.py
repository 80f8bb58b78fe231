"""The interface between the hook handlers and the application that mounts them."""

from typing import Protocol

from nats.js import JetStreamContext

from griddispatch.clock import Clock
from griddispatch.settings import Settings
from storage.db import Database


class HookContext(Protocol):
    """The database, JetStream, the clock and the settings; the API's context has all four."""

    @property
    def db(self) -> Database: ...

    @property
    def js(self) -> JetStreamContext: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def settings(self) -> Settings: ...
