"""Running the simulator: in a background thread for tests and benchmarks, or blocking for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import uvicorn

from herald.simulator import arrival
from herald.simulator.app import create_app
from herald.simulator.scenario import Scenario
from herald.simulator.state import SimState

T = TypeVar("T")
log = logging.getLogger("herald.simulator")


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # uvloop is optional (not on Windows)
        return asyncio.new_event_loop()


class SimulatorServer:
    """The simulator on a free loopback port, served by uvicorn in its own thread and event loop.

    Usable as `with SimulatorServer(...) as sim:` or `async with`; `sim.base_url` is the Graph base.
    """

    def __init__(
        self,
        scenario: Scenario | dict[str, Any] | str | Path | None = None,
        webhook_url: str | None = None,
        app_secret: str = "sim-secret",
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.app = create_app(scenario, webhook_url, app_secret)
        self.state: SimState = self.app.state.sim
        self.host = host
        self._requested_port = port
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on",
                                timeout_keep_alive=30, backlog=4096, http=arrival.protocol_class())
        self._server = uvicorn.Server(config)
        self._loop = _new_loop()
        self._thread = threading.Thread(target=self._run, args=(sock,), name="herald-simulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.01)
        return self

    def _run(self, sock: socket.socket) -> None:
        assert self._loop is not None and self._server is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._server.serve(sockets=[sock]))
        finally:
            sock.close()
            self._loop.close()

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the simulator's loop thread (state is not thread-safe) and return its result."""
        if self._loop is None or not self._loop.is_running():
            return fn()

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def set_webhook_url(self, url: str | None) -> None:
        def apply() -> None:
            self.state.webhook_url = url
            self.state.dispatcher.wake()

        self.call(apply)

    def set_scenario(self, scenario: Scenario | dict[str, Any]) -> None:
        self.call(lambda: self.state.load(Scenario.coerce(scenario)))

    def update_scenario(self, **changes: Any) -> None:
        self.call(lambda: self.state.load(self.state.scenario.merged(changes)))

    def advance_clock(self, seconds: float) -> None:
        def apply() -> None:
            self.state.clock_offset += seconds

        self.call(apply)

    def reset(self) -> None:
        self.call(self.state.reset)

    def messages(self) -> list[dict[str, Any]]:
        return self.call(lambda: [m.as_dict() for m in self.state.messages])

    def stats(self) -> dict[str, Any]:
        return self.call(self.state.stats)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> SimulatorServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)


def serve(
    host: str = "127.0.0.1",
    port: int = 8090,
    webhook_url: str | None = None,
    app_secret: str = "sim-secret",
    scenario_file: str | None = None,
) -> None:
    """Run the simulator in the foreground until interrupted (`herald simulator`)."""
    scenario = Scenario.from_file(scenario_file) if scenario_file else Scenario()
    app = create_app(scenario, webhook_url, app_secret, freeze_heap=True)
    log.info("WhatsApp simulator on http://%s:%s, webhooks to %s", host, port, webhook_url or "(none)")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, backlog=4096,
                    http=arrival.protocol_class())
