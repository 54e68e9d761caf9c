"""``herald demo``: the simulator, Herald (server + embedded worker) and the demo bot in one process tree.

Herald (``herald serve``) and the simulator (``herald simulator``) run as child processes, each
with a CPU core of its own on a small machine; this process seeds through the API, serves the
demo bot and draws the progress. Ctrl-C (SIGINT) or SIGTERM stops everything: the bot first, so
no answer is cut in half, then Herald (it drains and stops its worker), then the simulator.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import webbrowser
from dataclasses import dataclass
from pathlib import Path

import orjson
from rich.console import Console

from herald.demo import data
from herald.demo.api import Api, DemoError
from herald.demo.bot import DemoBot
from herald.demo.campaign import (
    Launch,
    breaker_table,
    create_and_start,
    export_csv,
    funnel_of,
    holdout_table,
    record_organic_conversions,
    stats_table,
    variants_table,
    watch,
)
from herald.demo.children import Child
from herald.demo.organization import (
    DEMO_EMAIL,
    DEMO_PASSWORD,
    demo_settings,
    prepare,
    reset,
    seed_organization,
)
from herald.demo.seed import Seeded, seed
from herald.kit.db import Database

HOST = "127.0.0.1"
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class Options:
    contacts: int = 3000
    port: int = 8000
    sim_port: int = 8090
    open_browser: bool = True
    run_campaign: bool = False
    keep: bool = False
    var_dir: Path = Path("var/demo")


def _check_free(port: int, what: str, flag: str) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise DemoError(f"port {port} for {what} is in use; choose another with {flag}") from exc


class Demo:
    def __init__(self, options: Options, console: Console):
        self.options = options
        self.console = console
        self.url = f"http://{HOST}:{options.port}"
        self.sim_url = f"http://{HOST}:{options.sim_port}"
        self.simulator: Child | None = None
        self.server: Child | None = None
        self.api: Api | None = None
        self.bot: DemoBot | None = None

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        work = asyncio.create_task(self._work())
        stopped = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if work in done:
                return work.result()
            self.console.print("\nstopping the demo…")
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            return 0  # Ctrl-C is how the demo is meant to end
        except DemoError as exc:
            self.console.print(f"[red]demo failed:[/red] {exc}")
            return 1
        finally:
            stopped.cancel()
            await self._shutdown()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _work(self) -> int:
        options = self.options
        _check_free(options.port, "Herald", "--port")
        _check_free(options.sim_port, "the simulator", "--sim-port")
        if not options.keep:
            reset(options.var_dir)
        settings = demo_settings(options.var_dir)
        self._start_simulator()
        prepare(settings)  # migrate here, not in the server: the organization is created next
        database = Database.connect(settings.database_url)
        try:
            _, api_key = await seed_organization(database, settings)
        finally:
            await database.dispose()
        self._start_server()
        assert self.simulator is not None and self.server is not None
        await self.simulator.wait_healthy(f"{self.sim_url}/_sim/health", STARTUP_SECONDS)
        await self.server.wait_healthy(f"{self.url}/healthz", STARTUP_SECONDS)
        self.api = Api(self.url, api_key)
        self.bot = DemoBot(self.api, data.BOT_SECRET, data.bot_rng())
        await self.bot.start()
        seeded = await seed(self.api, sim_url=self.sim_url, bot_url=self.bot.url, count=options.contacts)
        self.bot.number_id = seeded.number_id
        self._print_welcome(api_key, seeded)
        if options.open_browser:
            _open_browser(self.url)
        if options.run_campaign:
            return await self._run_campaign(seeded)
        self.console.print("Ctrl-C stops the server, the worker, the simulator and the bot.")
        await asyncio.Event().wait()  # until Ctrl-C cancels this task
        return 0

    def _start_simulator(self) -> None:
        options = self.options
        scenario_file = options.var_dir / "scenario.json"
        scenario_file.write_bytes(orjson.dumps(data.scenario(options.contacts), option=orjson.OPT_INDENT_2))
        self.simulator = Child("simulator", [
            sys.executable, "-m", "herald", "simulator", "--host", HOST, "--port", str(options.sim_port),
            "--webhook-url", f"{self.url}/webhooks/whatsapp", "--app-secret", data.APP_SECRET,
            "--scenario", str(scenario_file),
        ], options.var_dir / "simulator.log")

    def _start_server(self) -> None:
        # The simulator and the demo bot listen on loopback, which the outbound URL policy refuses by default.
        env = {**os.environ, "HERALD_VAR_DIR": str(self.options.var_dir), "HERALD_LOG_LEVEL": "WARNING",
               "HERALD_ALLOW_PRIVATE_URLS": "true"}
        env.pop("HERALD_DATABASE_URL", None)  # the demo is always the SQLite file under ./var/demo
        self.server = Child("Herald server", [
            sys.executable, "-m", "herald", "serve", "--host", HOST, "--port", str(self.options.port), "--worker",
        ], self.options.var_dir / "server.log", env=env)

    def _print_welcome(self, api_key: str, seeded: Seeded) -> None:
        people = data.contacts(self.options.contacts)
        missing = sum(1 for p in people if data.MEMBER_ID not in p.valued_tags)
        cases = sum(1 for p in people if p.open_case)
        unreachable = sum(1 for p in people if p.unreachable)
        self.console.print(f"Herald demo at [bold]{self.url}[/bold]  (API docs: /docs)")
        self.console.print(f"login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        print(f"API_KEY={api_key}", flush=True)
        lines = [
            f"contacts: {seeded.contacts:,} tagged '{data.AUDIENCE_TAG}': {missing} without '{data.MEMBER_ID}', "
            f"{cases} with an open case, {unreachable} not on WhatsApp",
            f"simulator: {self.sim_url} (number {data.DISPLAY_PHONE_NUMBER}, up to {data.THROUGHPUT_MPS:,} msg/s)",
            f"demo bot: {self.bot.url if self.bot else ''}",
        ]
        lines += [f"template '{t['name']}' is listed as unusable: {t['reason']}" for t in seeded.unusable]
        for line in lines:
            self.console.print(line, highlight=False, soft_wrap=True)
        sys.stdout.flush()  # piped stdout is block-buffered: scripts wait for these lines

    async def _run_campaign(self, seeded: Seeded) -> int:
        assert self.api is not None and self.bot is not None
        api, bot = self.api, self.bot
        launch = await create_and_start(api, number_id=seeded.number_id, bot_flow_id=seeded.bot_flow_id,
                                        teaser_media_id=seeded.teaser_media_id, contacts=seeded.contacts)
        campaign = launch.campaign
        campaign_id = campaign["id"]
        self._print_launch(launch)
        started = time.monotonic()
        stats = await watch(lambda: api.get(f"/campaigns/{campaign_id}/stats"), self.console,
                            lambda: bot.replies_of(campaign_id))
        elapsed = time.monotonic() - started
        organic = await record_organic_conversions(api, campaign_id, seeded.contacts)
        self.console.print(f"shop (simulated): {organic} organic '{data.CONVERSION_STEP}' events reported for "
                           "messaged and held-out contacts alike", highlight=False)
        self.console.print(stats_table(stats, await funnel_of(api, campaign_id)))
        experiment = await api.get(f"/campaigns/{campaign_id}/experiment")
        if experiment["holdout"]:
            seed = (await api.get(f"/campaigns/{campaign_id}"))["experiment_seed"]
            self.console.print(holdout_table(experiment["holdout"], seed))
        if experiment["variants"]:
            self.console.print(variants_table(experiment["variants"]))
        final = await api.get(f"/campaigns/{campaign_id}/stats")
        if final.get("breaker"):  # docs/quality.md: what would have paused it, and how close it came
            self.console.print(breaker_table(final["breaker"]))
        cost = final.get("cost")
        if cost:  # docs/costs.md: from Meta's pricing objects and the rate card, an estimate
            budget = f" of a {cost['budget']:.2f} {cost['currency']} budget" if cost.get("budget") else ""
            self.console.print(f"actual cost: {cost['actual']:.2f} {cost['currency']}{budget} (estimated from the "
                               "rate card; Meta's invoice is the truth)", highlight=False, soft_wrap=True)
        path = await export_csv(api, campaign_id, self.options.var_dir)
        self.console.print(f"finished in {elapsed:.1f} s; report: {path}", highlight=False)
        return 0

    def _print_launch(self, launch: Launch) -> None:
        campaign, (start, end) = launch.campaign, launch.window
        zones = ", ".join(f"{zone} {count:,}" for zone, count in sorted(launch.zones.items(), key=lambda z: -z[1]))
        lines = [
            f"campaign {campaign['id']} '{campaign['name']}' started at {data.CAMPAIGN_RATE} messages/s",
            f"send window: {start}-{end} every day, in each contact's local time (open now in {zones})",
            f"experiment: {campaign['holdout_percent']:g}% holdout; variants "
            + ", ".join(f"{v['name']} {(v['template'] or campaign['template'])['name']}" for v in campaign["variants"])
            + ", split evenly",
        ]
        if launch.forecast:
            forecast = launch.forecast
            # Like the campaign page: the contacts priced are those the holdout is expected to leave.
            held = f"; about {forecast['held_out']:,} more kept in the holdout" if forecast.get("held_out") else ""
            lines.append(f"cost forecast: {forecast['total']:.2f} {forecast['currency']} for {forecast['contacts']:,} "
                         f"eligible contacts ({forecast['category']}{held}); budget: {launch.budget:.2f} "
                         f"{forecast['currency']}")
        for line in lines:
            self.console.print(line, highlight=False, soft_wrap=True)

    async def _shutdown(self) -> None:
        if self.bot is not None:
            await self.bot.stop()
        if self.api is not None:
            await self.api.close()
        # Both children get SIGINT at once: Herald drains while the simulator stops.
        children = [c for c in (self.server, self.simulator) if c is not None]
        await asyncio.gather(*(asyncio.to_thread(c.stop) for c in children))


def _open_browser(url: str) -> None:
    # Without a display, webbrowser may start a text browser in this very terminal: skip it there.
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return
    try:
        webbrowser.open(url)
    except Exception:  # a browser that does not open must not stop the demo
        pass


def run(options: Options, console: Console | None = None) -> int:
    return asyncio.run(Demo(options, console or Console()).main())
