"""A three-node nats-server cluster with JetStream on free loopback ports."""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.errors import Error as NatsError

from griddispatch.nats_server import NatsServer, free_port

log = logging.getLogger(__name__)

CLUSTER_NAME = "gd-fault"
READY_TIMEOUT_S = 60.0


@dataclass
class NatsCluster:
    """Three JetStream nodes routed to each other; each can be killed and started again."""

    root: Path
    size: int = 3
    nodes: list[NatsServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        client_ports = [free_port() for _ in range(self.size)]
        route_ports = [free_port() for _ in range(self.size)]
        routes = ",".join(f"nats://127.0.0.1:{port}" for port in route_ports)
        for index in range(self.size):
            extra = [
                "--cluster_name",
                CLUSTER_NAME,
                "--cluster",
                f"nats://127.0.0.1:{route_ports[index]}",
                "--routes",
                routes,
            ]
            self.nodes.append(
                NatsServer(
                    port=client_ports[index],
                    store_dir=self.root / f"node{index}",
                    server_name=f"node{index}",
                    extra_args=extra,
                )
            )

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    async def start(self) -> None:
        """Start every node and wait until JetStream has a meta leader."""
        await asyncio.gather(*(node.start() for node in self.nodes))
        await self.wait_for_jetstream()

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()

    async def wait_for_jetstream(self) -> None:
        """Wait until the cluster returns JetStream account information."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                client = await nats.connect(self.urls, connect_timeout=2, allow_reconnect=False)
            except (NatsError, OSError):
                client = None
            if client is not None:
                try:
                    await client.jetstream().account_info()
                    return
                except (NatsError, OSError):
                    pass
                finally:
                    await client.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"JetStream cluster not ready in {READY_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.5)

    async def kill(self, index: int) -> None:
        """Kill node `index` with SIGKILL."""
        await self.nodes[index].kill()

    async def restart(self, index: int) -> None:
        """Start node `index` again on its port and store."""
        await self.nodes[index].start()

    def pids(self) -> dict[str, int]:
        return {
            f"nats{index}": node.pid
            for index, node in enumerate(self.nodes)
            if node.pid is not None
        }
