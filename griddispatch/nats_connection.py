"""Connecting to NATS with the reconnect behaviour every component wants."""

import logging
from urllib.parse import urlsplit

import nats
from faststream.nats import NatsBroker
from nats.aio.client import Client

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5


async def _on_error(exc: Exception) -> None:
    log.warning("nats connection error: %r", exc)


async def _quiet_error(exc: Exception) -> None:
    log.debug("nats connection error: %r", exc)


async def _on_disconnected() -> None:
    log.info("nats disconnected")


async def _on_reconnected() -> None:
    log.info("nats reconnected")


def nats_servers(url: str) -> list[str]:
    """Split a comma-separated list of NATS server URLs, so a client can start from any of them.

    Raises ValueError naming the value when it contains no URL.
    """
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError(
            f"NATS URL {url!r} names no server; write nats://host:port, or several separated "
            "by commas"
        )
    return servers


def server_addresses(url: str) -> str:
    """Return the host:port of each server in a NATS URL list, for logs, without credentials."""
    parsed = [urlsplit(server) for server in nats_servers(url)]
    return ",".join(f"{server.hostname}:{server.port}" for server in parsed)


def connection_options(name: str) -> dict[str, object]:
    """Return nats-py connect options: endless reconnects, logged, with a client name."""
    return {
        "name": name,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 1.0,
        "error_cb": _on_error,
        "disconnected_cb": _on_disconnected,
        "reconnected_cb": _on_reconnected,
    }


async def connect(url: str, *, name: str, reconnect: bool = True) -> Client:
    """Open a NATS connection to `url` for the component `name`.

    With `reconnect` off (for short-lived commands) a server that is down
    fails the first attempt at once instead of being retried forever.
    """
    options = connection_options(name)
    if not reconnect:
        options.update(allow_reconnect=False, max_reconnect_attempts=0, error_cb=_quiet_error)
    client = await nats.connect(nats_servers(url), **options)
    log.info("nats connected component=%s server=%s", name, connected_server(client))
    return client


def connected_server(client: Client) -> str:
    """Return host:port of the server `client` is connected to, without any credentials."""
    url = client.connected_url
    return f"{url.hostname}:{url.port}" if url is not None else "none"


def build_broker(nats_url: str, name: str) -> NatsBroker:
    """Create a FastStream NATS broker with logged, endless reconnects."""
    return NatsBroker(
        nats_servers(nats_url),
        name=name,
        connect_timeout=CONNECT_TIMEOUT_S,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        error_cb=_on_error,
        disconnected_cb=_on_disconnected,
        reconnected_cb=_on_reconnected,
        logger=logging.getLogger(f"faststream.{name}"),
        # Per-message "Received"/"Processed" lines go to debug; the handlers log what they did.
        log_level=logging.DEBUG,
    )
