"""GRIDDISPATCH_NATS_URL may list several servers, and a client connects to any that is up."""

from pathlib import Path

import pytest

from griddispatch.nats_connection import (
    build_broker,
    connect,
    connected_server,
    nats_servers,
    server_addresses,
)
from griddispatch.nats_server import NatsServer, free_port


def test_comma_separated_urls_are_split() -> None:
    servers = nats_servers("nats://a:4222, nats://b:4222,,nats://c:4222")

    assert servers == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]


def test_url_naming_no_server_is_refused() -> None:
    with pytest.raises(ValueError, match="NATS URL ' , ' names no server"):
        nats_servers(" , ")


def test_logged_addresses_carry_no_credentials() -> None:
    addresses = server_addresses("nats://gd:s3cret@a:4222,tls://gd:s3cret@b:4223")

    assert addresses == "a:4222,b:4223"
    assert "s3cret" not in addresses


async def test_client_starts_from_the_server_that_answers(tmp_path: Path) -> None:
    server = NatsServer(port=free_port(), store_dir=tmp_path / "jetstream")
    await server.start()
    down = f"nats://127.0.0.1:{free_port()}"
    try:
        client = await connect(f"{down},{server.url}", name="test", reconnect=False)
        try:
            assert client.is_connected
            assert client.connected_url is not None
            assert client.connected_url.port == server.port
            assert connected_server(client) == f"127.0.0.1:{server.port}"
        finally:
            await client.close()

        broker = build_broker(f"{down},{server.url}", "test-broker")
        await broker.connect()
        try:
            assert await broker.ping(timeout=5)
        finally:
            await broker.stop()
    finally:
        await server.stop()
