"""The demo's child processes: started with their output in a log file, stopped with SIGINT, then killed."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from herald.demo.api import DemoError

STOP_SECONDS = 8.0


def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, children get SIGTERM if the demo dies without cleaning up (e.g. SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None).prctl  # resolved here: the child only calls it (nothing to import after fork)
    except (OSError, AttributeError):
        return None

    def arm() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return arm


_ARM = _parent_death_signal()


class Child:
    def __init__(self, name: str, command: list[str], log: Path, env: dict[str, str] | None = None):
        self.name = name
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(  # preexec only calls a pre-resolved prctl
                command, stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=env, preexec_fn=_ARM,
            )

    async def wait_healthy(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise DemoError(f"the {self.name} exited (code {self.process.returncode}); see {self.log}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise DemoError(f"the {self.name} did not answer within {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        """SIGINT first (uvicorn drains and runs the lifespan shutdown), SIGKILL if it hangs."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

