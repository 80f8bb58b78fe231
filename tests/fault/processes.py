"""Components of griddispatch as OS processes that the harness kills with SIGKILL and restarts.

Each process runs the real command line (`python -m dispatcher worker` and
so on) with its settings in the environment. A process that exits without
being killed by the harness (for example a component that could not reach
NATS while a node was down) is started again after a pause, as a service
manager would, and counted.
"""

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from griddispatch.nats_server import _stop_with_parent, stop_process

log = logging.getLogger(__name__)

# Starting a component takes 10 to 120 s on two busy cores: imports, NATS and database.
READY_TIMEOUT_S = 300.0
RESTART_PAUSE_S = 1.0
STOP_TIMEOUT_S = 15.0


@dataclass
class ComponentProcess:
    """One component process: its command, environment, log file and restart counts."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    ready_text: str
    kills: int = 0
    unplanned_exits: int = 0
    _process: asyncio.subprocess.Process | None = None
    _watch: asyncio.Task[None] | None = None
    _ready_watch: asyncio.Task[None] | None = None
    _closing: bool = False
    _killing: bool = False
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        """Start the process and wait until it logs its ready line."""
        self._closing = False
        await self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name=f"supervise {self.name}")
        await self.wait_ready()

    async def _spawn(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log_file:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                *self.args,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                preexec_fn=_stop_with_parent,
            )
        self._ready.clear()
        self._ready_watch = asyncio.create_task(
            self._watch_ready(offset), name=f"ready {self.name}"
        )
        log.info("component started name=%s pid=%s", self.name, self._process.pid)

    async def _watch_ready(self, offset: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as log_file:
                log_file.seek(offset)
                if self.ready_text.encode() in log_file.read():
                    self._ready.set()
                    return
            await asyncio.sleep(0.2)

    async def wait_ready(self) -> None:
        """Wait until the current process logged its ready line."""
        await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT_S)

    async def _supervise(self) -> None:
        """Restart the process when it exits unless the harness stopped or killed it."""
        while not self._closing:
            process = self._process
            assert process is not None
            code = await process.wait()
            if self._closing:
                return
            if self._killing or process is not self._process:
                await asyncio.sleep(0.1)
                continue
            self.unplanned_exits += 1
            log.warning("component exited name=%s code=%s, restarting", self.name, code)
            await asyncio.sleep(RESTART_PAUSE_S)
            if not self._closing and process is self._process:
                await self._spawn()

    async def kill_and_restart(self, down_s: float) -> None:
        """Kill the process with SIGKILL, leave it down for `down_s`, then start it again.

        It does not wait for the new process to be ready; `wait_ready` does.
        """
        process = self._process
        assert process is not None
        self._killing = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        await process.wait()
        self.kills += 1
        log.info("component killed name=%s pid=%s", self.name, process.pid)
        await asyncio.sleep(down_s)
        await self._spawn()
        self._killing = False

    async def stop(self) -> None:
        """Stop the process with SIGTERM, killing it if it does not exit in time."""
        self._closing = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await stop_process(self._process, STOP_TIMEOUT_S)


def rss_kib(pid: int) -> int | None:
    """Return the resident set size of process `pid` in KiB, or None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None
