"""Probes, /metrics after a small campaign, JSON logs with bound ids, no secrets in logs, key rotation."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from herald.app import create_app
from herald.campaigns.lifecycle import Status, transition
from herald.cli import app as cli_app
from herald.config import Settings, get_settings
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.models import BotFlow, EventEndpoint, WhatsAppNumber
from herald.ops import logs
from herald.ops.metrics import REGISTRY
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY, OrgHandle
from tests.dispatch.helpers import done_sending, running_worker, stats, wait_until
from tests.factories import (
    graph_template,
    make_active_campaign,
    make_bot_flow,
    make_contacts,
    make_number,
    make_template,
)
from tests.live import live_server

TEXT_ONLY = [{"type": "BODY", "text": "Hello {{1}}"}]
TOKEN = "tok-SUPERSECRET-4711"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logs.configure(level="INFO", json=True, stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


async def _app_on(settings: Settings, database: Database) -> httpx.AsyncClient:
    application = create_app(settings, database)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://herald.test")


class TestProbes:
    async def test_healthz_and_readyz_answer_200_on_a_migrated_database(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}

    async def test_readyz_is_503_when_the_schema_is_behind(self, tmp_path: Path) -> None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        settings = Settings(var_dir=tmp_path, database_url=url, secret_key=TEST_SECRET_KEY,
                            encryption_keys=TEST_FERNET_KEY, embedded_worker=False).resolved()
        database = Database.connect(url)
        try:
            async with await _app_on(settings, database) as http:
                answer = await http.get("/readyz")
                assert (await http.get("/healthz")).status_code == 200
        finally:
            await database.dispose()
        assert answer.status_code == 503 and answer.json() == {"status": "unavailable", "reason": "migrations pending"}

    async def test_readyz_and_metrics_when_the_database_is_unreachable(self, tmp_path: Path) -> None:
        url = "postgresql+psycopg://postgres@127.0.0.1:1/herald"
        settings = Settings(var_dir=tmp_path, database_url=url, secret_key=TEST_SECRET_KEY,
                            encryption_keys=TEST_FERNET_KEY, embedded_worker=False).resolved()
        database = Database.connect(url)
        try:
            async with await _app_on(settings, database) as http:
                ready = await http.get("/readyz")
                metrics = await http.get("/metrics")
        finally:
            await database.dispose()
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable" and ready.json()["reason"]
        assert metrics.status_code == 200
        assert samples(metrics.text)[("herald_database_up", ())] == 0


class TestMetrics:
    @pytest.mark.server
    async def test_metrics_after_a_small_campaign(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, settings: Settings,
    ) -> None:
        total = 20
        box: SecretBox = app.state.secret_box
        with live_server(settings) as herald:
            scenario = Scenario.model_validate({
                "templates": [graph_template("hello", components=TEXT_ONLY)], "seed": 1,
                "read_probability": 0, "reply_probability": 0,
            })
            with SimulatorServer(scenario, webhook_url=f"{herald}/webhooks/whatsapp", app_secret="sim-secret") as sim:
                number = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
                label = (("number", str(number)),)
                before = samples((await client.get("/metrics")).text)
                await make_template(database, org_id=org.id, name="hello", variables=["1"], header_format=None)
                await make_contacts(database, org_id=org.id, specs=[
                    {"phone": f"+1415555{i:04d}", "name": f"C{i}", "tags": ["all"]} for i in range(total)
                ])
                campaign = await make_active_campaign(
                    database, org_id=org.id, number_id=number, audience={"tags_any": ["all"]},
                    variables={"1": {"source": "contact_name"}}, media_row_id=None, bot_flow_id=None,
                    rate=50, template="hello",
                )
                async with running_worker(database, box):
                    await wait_until(lambda: done_sending(database, campaign))
                    await wait_until(lambda: _received(database, campaign, total))
                    async with database.session() as session:
                        await transition(session, campaign_id=campaign, to=Status.paused)
                    await wait_until(lambda: _no_backlog(client), timeout=15)
                    answer = await client.get("/metrics")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        after = samples(answer.text)

        def delta(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
            return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

        assert delta("herald_messages_sent_total", label) == total
        assert delta("herald_send_latency_seconds_count", label) == total
        assert 0 < delta("herald_send_latency_seconds_sum", label) < total * 5
        assert delta("herald_send_outcomes_total", (("outcome", "sent"),)) == total
        assert delta("herald_webhook_posts_total", (("code", "200"),)) >= 1
        assert delta("herald_webhook_post_seconds_count") >= 1
        assert delta("herald_campaign_transitions_total", (("to", "paused"),)) == 1
        status = {k[1][0][1]: v for k, v in after.items() if k[0] == "herald_campaign_messages"}
        assert status == {"targeted": total, "pending": 0, "sent": total, "received": total, "read": 0,
                          "replied": 0, "unknown": 0, "not_sent": 0, "holdout": 0}
        assert after[("herald_campaigns", (("status", "paused"),))] == 1
        assert after[("herald_webhook_backlog", ())] == 0 and after[("herald_webhook_lag_seconds", ())] == 0
        assert ("herald_jobs_pending", ()) in after and after[("herald_jobs_failed", ())] == 0
        assert after[("herald_bot_deliveries_pending", ())] == 0
        assert after[("herald_workers_alive", ())] == 1
        assert after[("herald_database_up", ())] == 1

    async def test_a_refused_webhook_is_counted(self, client: httpx.AsyncClient) -> None:
        before = REGISTRY.get_sample_value("herald_webhook_posts_total", {"code": "401"}) or 0
        assert (await client.post("/webhooks/whatsapp", content=b"{}")).status_code == 401
        after = REGISTRY.get_sample_value("herald_webhook_posts_total", {"code": "401"})
        assert after == before + 1


async def _no_backlog(client: httpx.AsyncClient) -> bool:
    return samples((await client.get("/metrics")).text)[("herald_webhook_backlog", ())] == 0


async def _received(database: Database, campaign: int, n: int) -> bool:
    return (await stats(database, campaign))["received"] == n


class TestLogs:
    async def test_a_state_change_logs_one_json_line_with_the_campaign_id(
        self, app: FastAPI, database: Database, org: OrgHandle, json_logs: io.StringIO,
    ) -> None:
        number = await make_number(database, app.state.secret_box, org_id=org.id, base_url="http://127.0.0.1:9")
        campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience=None, variables={},
                                              media_row_id=None, bot_flow_id=None, status="active")
        with logs.bind(worker_id="w-test"):
            async with database.session() as session:
                await transition(session, campaign_id=campaign, to=Status.paused)
        lines = [orjson.loads(line) for line in json_logs.getvalue().splitlines()]
        change = [line for line in lines if line["logger"] == "herald.campaigns"]
        assert len(change) == 1
        (line,) = change
        assert line["campaign_id"] == campaign and line["to"] == "paused" and line["from_states"] == "active"
        assert line["worker_id"] == "w-test" and line["level"] == "INFO" and line["ts"].endswith("+00:00")
        assert line["msg"] == f"campaign {campaign} is now paused (was active)"

    def test_bound_fields_nest_and_unwind(self, json_logs: io.StringIO) -> None:
        log = logging.getLogger("herald.test")
        with logs.bind(campaign_id=1, number_id=2):
            with logs.bind(message_id=3):
                log.info("inner")
            log.warning("outer")
        log.info("none")
        inner, outer, none = (orjson.loads(line) for line in json_logs.getvalue().splitlines())
        assert (inner["campaign_id"], inner["number_id"], inner["message_id"]) == (1, 2, 3)
        assert "message_id" not in outer and outer["campaign_id"] == 1
        assert not {"campaign_id", "number_id", "message_id"} & set(none)

    def test_secrets_are_masked_in_messages_and_tracebacks(self, json_logs: io.StringIO) -> None:
        log = logging.getLogger("herald.test")
        log.info("calling with Authorization: Bearer %s", TOKEN)
        try:
            raise RuntimeError(f"GET https://graph.example/v23.0/me?access_token={TOKEN}&x=1")
        except RuntimeError:
            log.exception("failed")
        text = json_logs.getvalue()
        assert TOKEN not in text and text.count("[redacted]") >= 3
        assert all(orjson.loads(line) for line in text.splitlines())

    async def test_a_campaign_run_logs_no_secret(
        self, app: FastAPI, database: Database, org: OrgHandle, json_logs: io.StringIO,
    ) -> None:
        box: SecretBox = app.state.secret_box
        scenario = Scenario.model_validate({"templates": [graph_template("hello", components=TEXT_ONLY)],
                                            "error_rate_5xx": 0.5, "seed": 2})
        with SimulatorServer(scenario, webhook_url=None, app_secret="sim-secret") as sim:
            number = await make_number(database, box, org_id=org.id, base_url=sim.base_url, token=TOKEN,
                                       app_secret="appsecret-" + TOKEN)
            await make_template(database, org_id=org.id, name="hello", variables=["1"], header_format=None)
            await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155550001", "name": "A", "tags": ["x"]}])
            campaign = await make_active_campaign(
                database, org_id=org.id, number_id=number, audience={"tags_any": ["x"]},
                variables={"1": {"source": "contact_name"}}, media_row_id=None, bot_flow_id=None, template="hello",
            )
            async with running_worker(database, box):
                await wait_until(lambda: done_sending(database, campaign))
        text = json_logs.getvalue()
        assert "now sends for number" in text
        for secret in (TOKEN, TEST_FERNET_KEY, TEST_SECRET_KEY):
            assert secret not in text


class TestRotateKeys:
    def test_rotate_keys_reencrypts_every_secret_with_the_new_first_key(
        self, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        import asyncio

        old, new = TEST_FERNET_KEY, Fernet.generate_key().decode()

        async def seed() -> None:
            database = Database.connect(db_url)
            try:
                box = SecretBox(old)
                from herald.auth import service

                async with database.session() as session:
                    organization = await service.create_org(session, name="Rot", secret_key=TEST_SECRET_KEY)
                await make_number(database, box, org_id=organization.id, base_url="http://127.0.0.1:9", token=TOKEN)
                await make_bot_flow(database, box, org_id=organization.id, secret="bot-" + TOKEN)
                async with database.session() as session:
                    session.add(EventEndpoint(org_id=organization.id, url="https://crm.example.com/h", failures=0,
                                              secret_enc=box.encrypt("evt-" + TOKEN), event_types=["message.read"]))
            finally:
                await database.dispose()

        async def read() -> list[str]:
            database = Database.connect(db_url)
            try:
                async with database.read_session() as session:
                    number = (await session.execute(WhatsAppNumber.__table__.select())).one()
                    flow = (await session.execute(BotFlow.__table__.select())).one()
                    endpoint = (await session.execute(EventEndpoint.__table__.select())).one()
                return [number.access_token_enc, number.app_secret_enc, number.verify_token_enc, flow.secret_enc,
                        endpoint.secret_enc]
            finally:
                await database.dispose()

        asyncio.run(seed())
        monkeypatch.setenv("HERALD_DATABASE_URL", db_url)
        monkeypatch.setenv("HERALD_VAR_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("HERALD_SECRET_KEY", TEST_SECRET_KEY)
        monkeypatch.setenv("HERALD_ENCRYPTION_KEYS", f"{new},{old}")
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli_app, ["rotate-keys"])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert "whatsapp_numbers=1" in result.output and "bot_flows=1" in result.output
        assert "event_endpoints=1" in result.output
        tokens = asyncio.run(read())
        only_new, only_old = SecretBox(new), SecretBox(old)
        assert [only_new.decrypt(t) for t in tokens] == [TOKEN, "sim-secret", "verify", "bot-" + TOKEN, "evt-" + TOKEN]
        for token in tokens:
            with pytest.raises(ValueError):
                only_old.decrypt(token)
