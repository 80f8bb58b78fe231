"""The three-node NATS cluster of deploy/nats, started on free loopback ports for a test.

The shipped configuration files are used as they are, except that their
fixed trial ports are replaced with free ones and the store folder moves
under the test's tmp_path, so the test checks the files operators get.
"""

import asyncio
import ctypes
import logging
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from griddispatch.errors import InfrastructureError
from griddispatch.nats_server import free_port, nats_server_binary, stop_process

log = logging.getLogger(__name__)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NATS_CONFIGS = [DEPLOY / "nats" / f"nats-{node}.conf" for node in (1, 2, 3)]
# Trial ports in the shipped files: client 1423N, monitoring 1823N, cluster routes 1623N.
TRIAL_PORT_BASES = {"client": 14230, "http": 18230, "cluster": 16230}
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """Have Linux send SIGTERM to the node when the test process dies, so none is orphaned."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ClusterNode:
    """One running node: its ports and process."""

    name: str
    client_port: int
    http_port: int
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def monitoring_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def _port_map() -> dict[int, int]:
    """Map every trial port of the shipped files to a free port."""
    return {base + node: free_port() for base in TRIAL_PORT_BASES.values() for node in (1, 2, 3)}


def rewrite_config(text: str, ports: dict[int, int], store_dir: Path) -> str:
    """Return a shipped configuration with free ports and a store under `store_dir`."""
    rewritten = re.sub(
        r"127\.0\.0\.1:(\d+)", lambda match: f"127.0.0.1:{ports[int(match[1])]}", text
    )
    return re.sub(r'store_dir: ".*"', f'store_dir: "{store_dir}"', rewritten)


async def _wait_healthy(session: aiohttp.ClientSession, node: ClusterNode) -> None:
    """Wait until the node reports JetStream healthy, which needs a meta leader."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    while loop.time() < deadline:
        if node.process is not None and node.process.returncode is not None:
            raise InfrastructureError(f"{node.name} exited with code {node.process.returncode}")
        try:
            async with session.get(f"{node.monitoring_url}/healthz") as reply:
                if reply.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise InfrastructureError(f"{node.name} not healthy within {READY_TIMEOUT_S:.0f} s")


async def _stop(node: ClusterNode) -> None:
    process, node.process = node.process, None
    await stop_process(process, STOP_TIMEOUT_S)


@asynccontextmanager
async def nats_cluster(folder: Path) -> AsyncIterator[list[ClusterNode]]:
    """Run the three shipped nodes on free ports, stores and logs in `folder`."""
    ports = _port_map()
    nodes: list[ClusterNode] = []
    try:
        for number, config in enumerate(NATS_CONFIGS, start=1):
            store = folder / f"gd-nats-{number}"
            store.mkdir(parents=True)
            path = folder / config.name
            path.write_text(rewrite_config(config.read_text(encoding="utf-8"), ports, store))
            node = ClusterNode(
                name=f"gd-nats-{number}",
                client_port=ports[TRIAL_PORT_BASES["client"] + number],
                http_port=ports[TRIAL_PORT_BASES["http"] + number],
            )
            with (folder / f"{node.name}.log").open("wb") as output:
                node.process = await asyncio.create_subprocess_exec(
                    str(nats_server_binary()),
                    "-c",
                    str(path),
                    stdout=output,
                    stderr=output,
                    preexec_fn=_stop_with_parent,
                )
            nodes.append(node)
            log.info("cluster node started name=%s url=%s", node.name, node.url)
        async with aiohttp.ClientSession() as session:
            for node in nodes:
                await _wait_healthy(session, node)
        yield nodes
    finally:
        for node in nodes:
            await _stop(node)
