"""The application's wiring (``herald.app.create_app``): one lifespan creates the process's shared
resources in order and closes them in reverse, and ``herald serve --worker/--no-worker`` reaches it
as a parameter, not through the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from herald.app import create_app
from herald.cli import app as cli_app
from herald.config import Settings, get_settings
from herald.kit.db import Database
from herald.models import WorkerHeartbeat
from herald.reports.hub import get_hub
from herald.whatsapp import CloudAPIClient, NumberCredentials
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY, OrgHandle
from tests.dispatch.helpers import wait_until
from tests.reports.helpers import make_campaign

NOWHERE = NumberCredentials(phone_number_id="1", waba_id="1", access_token="t", graph_api_base="http://127.0.0.1:9")


async def heartbeat_of(database: Database, worker_id: str) -> bool:
    async with database.read_session() as session:
        found = await session.execute(select(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id))
        return found.scalar_one_or_none() is not None


async def assert_closed(client: CloudAPIClient) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        await client.get_number_info(NOWHERE)


class TestLifespan:
    async def test_the_embedded_worker_sends_through_the_apps_one_client(
        self, settings: Settings, database: Database
    ) -> None:
        app = create_app(settings, database, worker=True)
        async with app.router.lifespan_context(app):
            worker = app.state.worker
            assert worker.client is app.state.cloud_client
            await wait_until(lambda: heartbeat_of(database, worker.worker_id), timeout=20)
        # Stopped before what it uses closed: it had time to retire (its heartbeat is gone).
        assert not await heartbeat_of(database, worker.worker_id)
        await assert_closed(app.state.cloud_client)

    async def test_shutdown_stops_the_live_stats_polls(
        self, settings: Settings, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        app = create_app(settings, database)
        async with app.router.lifespan_context(app):
            hub = get_hub(app)
            listening = hub.listen(campaign)
            updates = await listening.__aenter__()
            assert (await anext(updates)).targeted == 0
            assert hub.polling(campaign)
        assert not hub.polling(campaign)
        await listening.__aexit__(None, None, None)

    async def test_shutdown_closes_the_cloud_client(self, settings: Settings, database: Database) -> None:
        app = create_app(settings, database)
        async with app.router.lifespan_context(app):
            client = app.state.cloud_client
        await assert_closed(client)

    async def test_without_the_worker_there_is_no_worker(self, settings: Settings, database: Database) -> None:
        app = create_app(settings.model_copy(update={"embedded_worker": True}), database, worker=False)
        async with app.router.lifespan_context(app):
            assert not hasattr(app.state, "worker")


class TestServeWorkerOption:
    """``herald serve`` hands ``--worker/--no-worker`` to ``create_app``; only the server loop
    (``uvicorn.run``) is replaced, to keep the app it was given."""

    @pytest.mark.parametrize(("option", "environment", "runs"), [
        ("--worker", "false", True),
        ("--no-worker", "true", False),
    ])
    async def test_the_option_wins_and_leaves_the_environment_alone(
        self, option: str, environment: str, runs: bool, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        served: list[FastAPI] = []

        def run(app: FastAPI, **_: Any) -> None:
            served.append(app)

        monkeypatch.setattr(uvicorn, "run", run)
        monkeypatch.setattr("herald.app.configure_logging", lambda settings: None)
        for name, value in {"HERALD_DATABASE_URL": db_url, "HERALD_VAR_DIR": str(tmp_path / "var"),
                            "HERALD_SECRET_KEY": TEST_SECRET_KEY, "HERALD_ENCRYPTION_KEYS": TEST_FERNET_KEY,
                            "HERALD_EMBEDDED_WORKER": environment}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        sigterm = signal.getsignal(signal.SIGTERM)
        try:
            result = CliRunner().invoke(cli_app, ["serve", option])
        finally:
            signal.signal(signal.SIGTERM, sigterm)
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert os.environ["HERALD_EMBEDDED_WORKER"] == environment
        [app] = served
        async with app.router.lifespan_context(app):
            assert hasattr(app.state, "worker") is runs


class TestHandlerTables:
    def test_importing_the_applier_is_enough_to_apply_every_stored_kind(self) -> None:
        """In a fresh interpreter: no other module has to be imported first for a kind to be handled."""
        script = ("from herald.webhooks import applier, events\n"
                  "print(sorted(applier.HANDLERS) == sorted([events.STATUS, events.MESSAGE, events.PREFERENCE,\n"
                  "    events.TEMPLATE_STATUS, events.TEMPLATE_QUALITY, events.TEMPLATE_CATEGORY,\n"
                  "    events.NUMBER_QUALITY, events.ACCOUNT_UPDATE, events.VALUE_ERRORS]))")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == "True", done.stderr
