"""Talking to the HTTP API as a client does: tokens, requests and decoded replies."""

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy

from dispatcher.api.context import ApiContext
from dispatcher.api.service import ApiService
from griddispatch.clock import ManualClock
from griddispatch.settings import Settings
from storage.api_tokens.service import create_token
from storage.db import Database
from storage.escalation.policy import Escalation

# Tokens every API test gets, by name, with rate limits no test reaches.
TOKEN_SCOPES = {
    "centre": ["command_centre"],
    "reader": ["read_only"],
    "hook": ["hook"],
}
HIGH_RATE_PER_S = 10_000.0
HIGH_BURST = 100_000


@dataclass(frozen=True)
class Reply:
    """A response: status, headers, raw body, and the body decoded as JSON when it is JSON."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    data: Any = None

    @property
    def error_code(self) -> str:
        """The `error.code` of a JSON error body."""
        return str(self.data["error"]["code"])


@dataclass
class Client:
    """An HTTP client of one running API with a set of tokens."""

    service: ApiService
    session: aiohttp.ClientSession
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> str:
        """Scheme, host and port of the API, without the /api/v1 prefix."""
        return self.service.base_url.removesuffix("/api/v1")

    def headers_for(self, token: str | None) -> dict[str, str]:
        """Return the Authorization header for a token name, or none for None."""
        return {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = "centre",
        headers: dict[str, str] | None = None,
        language: str | None = "en",
        **options: Any,
    ) -> Reply:
        """Send a request to a path under /api/v1 and read the whole reply.

        `language` is the Accept-Language header: English by default, another language when a test
        names one, and none with None.
        """
        chosen = {"Accept-Language": language} if language is not None else {}
        all_headers = {**chosen, **self.headers_for(token), **(headers or {})}
        url = self.service.base_url + path
        async with self.session.request(method, url, headers=all_headers, **options) as response:
            body = await response.read()
            data = json.loads(body) if response.content_type == "application/json" else None
            return Reply(response.status, response.headers, body, data)

    async def get(self, path: str, **options: Any) -> Reply:
        """Send a GET request."""
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Any) -> Reply:
        """Send a POST request."""
        return await self.request("POST", path, **options)


async def make_tokens(db: Database) -> dict[str, str]:
    """Create the test tokens with limits no test reaches; return them by name."""
    tokens = {}
    for name, scopes in TOKEN_SCOPES.items():
        _, plaintext = await create_token(
            db, name, scopes, rate_per_s=HIGH_RATE_PER_S, burst=HIGH_BURST
        )
        tokens[name] = plaintext
    return tokens


@asynccontextmanager
async def serving(
    *,
    nats_url: str,
    db: Database,
    escalation: Escalation,
    clock: ManualClock,
    settings: Settings,
    configure: Sequence[Callable[[web.Application, ApiContext], None]] = (),
) -> AsyncIterator[Client]:
    """Run the API on 127.0.0.1 and a free port, with the test tokens, and a client for it."""
    service = ApiService(
        nats_url=nats_url,
        db=db,
        escalation=escalation,
        clock=clock,
        settings=settings,
        host="127.0.0.1",
        port=0,
        configure=configure,
    )
    tokens = await make_tokens(db)
    await service.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(service, session, tokens)
    finally:
        await service.stop()
