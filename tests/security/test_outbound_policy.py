"""Issue 17, item 3: one outbound URL policy for bot deliveries and the Graph API (no SSRF).

Link-local, metadata, unspecified, multicast and reserved addresses are always refused; loopback and
private ones unless HERALD_ALLOW_PRIVATE_URLS is true. Checked when a URL is saved (422 naming the
field) and again on every connection (DNS rebinding), redirects are not followed, and neither a
failed bot delivery nor a failed Graph call tells a viewer what the target answered.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from fastapi import FastAPI
from sqlalchemy import select

from herald.app import create_app
from herald.auth.principal import Role
from herald.config import Settings
from herald.kit.db import Database
from herald.kit.outbound import OutboundPolicy, client_session, refusal_of
from herald.kit.types import utcnow
from herald.models import BotDelivery, Campaign
from herald.replies.delivery import BotDeliveryEngine
from herald.simulator import SimulatorServer
from herald.whatsapp import CloudAPIClient, NumberCredentials, RefusedByPolicy, RetryClass
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.dispatch.helpers import running_worker, stats, wait_until
from tests.dispatch.test_campaign_dispatch import VARIABLES
from tests.factories import make_active_campaign, make_bot_flow, make_contacts, make_number, make_template
from tests.numbers.helpers import (
    SECRETS_AGAIN,
    field_names,
    number_body,
    register_number,
)
from tests.numbers.helpers import scenario as graph_scenario
from tests.security.recorder import Recorder, closed_port, recording_server

STRICT = OutboundPolicy()

ALWAYS_REFUSED = [
    "169.254.169.254", "169.254.0.1", "169.254.170.2", "fe80::1", "fe80::1%eth0",
    "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1",
    "fd00:ec2::254", "100.100.100.200", "192.0.0.192",
    "0.0.0.0", "0.1.2.3", "::", "::ffff:0.0.0.0",
    "224.0.0.1", "239.255.255.250", "ff02::1", "240.0.0.1", "255.255.255.255",
]
PRIVATE = [
    "127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1", "10.0.0.1", "10.255.255.255", "172.16.0.1",
    "172.31.255.255", "192.168.0.1", "100.64.0.1", "100.127.255.254", "fc00::1", "fd12:3456::1", "fec0::1",
    "::ffff:10.1.2.3", "198.18.0.1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]

URLS_ALWAYS_REFUSED = [
    "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://METADATA.google.internal./x",
    "https://[::ffff:169.254.169.254]/",
    "https://[fd00:ec2::254]/latest",
    "https://[fe80::1%25eth0]:8443/",
    "https://0.0.0.0:8080/",
    "https://[::]/",
    "https://127.1/",
    "https://2130706433/",
    "https://0x7f000001/",
    "http://8.8.8.8/hook",
    "http://bots.example.com/hook",
    "ftp://bots.example.com/hook",
]
URLS_PRIVATE = [
    "http://localhost:8080/hook", "http://bot.localhost:8080/hook", "http://127.0.0.1:9000/hook",
    "http://[::1]:9000/hook", "https://10.1.2.3/hook", "http://192.168.1.20:5000/hook", "https://100.64.0.1/",
]
URLS_PUBLIC = ["https://bots.example.com/hook", "https://8.8.8.8:8443/x", "https://[2606:4700:4700::1111]/"]


class FixedResolver(AbstractResolver):
    """Host names resolve where the test says, never through DNS; `addresses` may change between calls."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host not in self.addresses:
            raise OSError(f"{host} is not a name of this test")
        address = self.addresses[host]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [{"hostname": host, "host": address, "port": port, "family": family, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(graph_scenario(), webhook_url=None, app_secret="s") as server:
        yield server


@pytest.fixture
async def strict_client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The API as deployed by default: HERALD_ALLOW_PRIVATE_URLS unset."""
    application = create_app(settings.model_copy(update={"allow_private_urls": False}), database)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as http:
            yield http


async def bot_flow_with_a_delivery(app: FastAPI, database: Database, org: OrgHandle, url: str) -> int:
    """A bot flow at `url` (stored as is: a URL saved before the policy) and a campaign with one reply due."""
    box = app.state.secret_box
    number = await make_number(database, box, org_id=org.id, base_url="http://127.0.0.1:9")
    bot_flow = await make_bot_flow(database, box, org_id=org.id, url=url)
    (contact,) = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155553000"}])
    campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["x"]},
                                          variables={}, media_row_id=None, bot_flow_id=bot_flow)
    await enqueue(database, org.id, bot_flow, campaign, contact)
    return bot_flow


async def enqueue(database: Database, org_id: int, bot_flow_id: int, campaign_id: int, contact_id: int) -> None:
    async with database.session() as session:
        session.add(BotDelivery(
            org_id=org_id, bot_flow_id=bot_flow_id, campaign_id=campaign_id, contact_id=contact_id,
            delivery_id=uuid.uuid4().hex, body='{"text": "hi"}', status="pending", attempts=0,
            next_attempt_at=utcnow(),
        ))


async def last_errors(database: Database) -> list[str | None]:
    async with database.read_session() as session:
        return list((await session.execute(select(BotDelivery.last_error).order_by(BotDelivery.id))).scalars())


def is_refused(policy: OutboundPolicy, address: str) -> bool:
    return policy.address_problem(address) is not None


class TestThePolicy:
    @pytest.mark.parametrize("address", ALWAYS_REFUSED)
    def test_link_local_metadata_unspecified_multicast_and_reserved_are_always_refused(self, address: str) -> None:
        assert is_refused(STRICT, address) and is_refused(LOOPBACK_ALLOWED, address)

    @pytest.mark.parametrize("address", PRIVATE)
    def test_loopback_and_private_are_refused_unless_allowed(self, address: str) -> None:
        assert is_refused(STRICT, address) and not is_refused(LOOPBACK_ALLOWED, address)

    @pytest.mark.parametrize("address", PUBLIC)
    def test_public_addresses_are_allowed(self, address: str) -> None:
        assert not is_refused(STRICT, address) and not is_refused(LOOPBACK_ALLOWED, address)

    @pytest.mark.parametrize("url", URLS_ALWAYS_REFUSED)
    def test_urls_always_refused(self, url: str) -> None:
        for policy in (STRICT, LOOPBACK_ALLOWED):
            problem = policy.url_problem(url, field="webhook_url")
            assert problem is not None and problem.startswith("webhook_url ")

    @pytest.mark.parametrize("url", URLS_PRIVATE)
    def test_private_urls_and_plain_http_to_them_only_when_allowed(self, url: str) -> None:
        assert "HERALD_ALLOW_PRIVATE_URLS" in (STRICT.url_problem(url, field="webhook_url") or "")
        assert LOOPBACK_ALLOWED.url_problem(url, field="webhook_url") is None

    @pytest.mark.parametrize("url", URLS_PUBLIC)
    def test_https_to_public_hosts_is_allowed(self, url: str) -> None:
        assert STRICT.url_problem(url, field="webhook_url") is None

    def test_the_setting_defaults_to_false_and_reads_the_environment(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
    ) -> None:
        monkeypatch.delenv("HERALD_ALLOW_PRIVATE_URLS", raising=False)
        assert Settings(var_dir=tmp_path).allow_private_urls is False
        monkeypatch.setenv("HERALD_ALLOW_PRIVATE_URLS", "true")
        assert Settings(var_dir=tmp_path).allow_private_urls is True


class TestSaveTime:
    @pytest.mark.parametrize("url", URLS_ALWAYS_REFUSED[:8])
    async def test_a_bot_flow_url_to_metadata_or_link_local_is_422_even_when_private_is_allowed(
        self, client: httpx.AsyncClient, org: OrgHandle, url: str
    ) -> None:
        body = {"name": "bot", "webhook_url": url, "secret": "s"}
        response = await client.post("/api/v1/bot-flows", json=body, headers=org.auth)
        assert response.status_code == 422, response.text
        assert field_names(response) == {"webhook_url"}
        created = await client.post("/api/v1/bot-flows", json={**body, "webhook_url": "https://bots.example.com/h"},
                                    headers=org.auth)
        patched = await client.patch(f"/api/v1/bot-flows/{created.json()['id']}", json={"webhook_url": url},
                                     headers=org.auth)
        assert patched.status_code == 422 and field_names(patched) == {"webhook_url"}

    @pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "https://10.1.2.3/hook", "http://localhost/h"])
    async def test_a_private_bot_flow_url_is_422_by_default(
        self, strict_client: httpx.AsyncClient, org: OrgHandle, url: str
    ) -> None:
        response = await strict_client.post(
            "/api/v1/bot-flows", json={"name": "bot", "webhook_url": url, "secret": "s"}, headers=org.auth
        )
        assert response.status_code == 422, response.text
        assert field_names(response) == {"webhook_url"}
        assert "HERALD_ALLOW_PRIVATE_URLS" in response.json()["error"]["message"]

    @pytest.mark.parametrize("base", ["https://169.254.169.254", "https://metadata.google.internal",
                                      "https://[::ffff:169.254.169.254]", "http://0.0.0.0:8080"])
    async def test_a_graph_api_base_to_metadata_is_422_naming_it(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, base: str
    ) -> None:
        response = await client.post("/api/v1/whatsapp-numbers", json=number_body(base), headers=org.auth)
        assert response.status_code == 422, response.text
        assert field_names(response) == {"graph_api_base"}
        number = await register_number(client, org, sim.base_url)
        moved = await client.patch(f"/api/v1/whatsapp-numbers/{number['id']}",
                                   json={"graph_api_base": base, **SECRETS_AGAIN}, headers=org.auth)
        assert moved.status_code == 422 and field_names(moved) == {"graph_api_base"}

    async def test_a_graph_api_base_on_loopback_is_422_by_default(
        self, strict_client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        response = await strict_client.post("/api/v1/whatsapp-numbers", json=number_body(sim.base_url),
                                            headers=org.auth)
        assert response.status_code == 422, response.text
        assert field_names(response) == {"graph_api_base"}


class TestConnectTime:
    async def test_a_name_rebound_to_a_metadata_address_after_saving_is_refused(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        async with recording_server() as bot:
            # Saved through the API: a loopback name, fine where private targets are allowed.
            url = f"http://bot.localhost:{bot.port}/hooks/herald"
            saved = await client.post("/api/v1/bot-flows", json={"name": "bot", "webhook_url": url, "secret": "s"},
                                      headers=org.auth)
            assert saved.status_code == 201, saved.text
            resolver = FixedResolver({"bot.localhost": "127.0.0.1"})
            policy = OutboundPolicy(allow_private_urls=True, resolver=lambda: resolver)
            engine = BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=policy)
            number = await make_number(database, app.state.secret_box, org_id=org.id, base_url="http://127.0.0.1:9")
            (contact,) = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155553000"}])
            campaign = await make_active_campaign(
                database, org_id=org.id, number_id=number, audience={"tags_any": ["x"]}, variables={},
                media_row_id=None, bot_flow_id=saved.json()["id"],
            )
            await enqueue(database, org.id, saved.json()["id"], campaign, contact)
            assert await engine.deliver_due() == 1
            assert len(bot.requests) == 1 and await last_errors(database) == [None]

            resolver.addresses["bot.localhost"] = "169.254.169.254"  # the attacker's DNS answers differently now
            await enqueue(database, org.id, saved.json()["id"], campaign, contact)
            await engine.deliver_due()
            assert len(bot.requests) == 1
            assert (await last_errors(database))[1] == "refused by outbound URL policy: cloud metadata address"

    async def test_a_public_name_resolving_to_loopback_is_refused_by_default(
        self, app: FastAPI, strict_client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        async with recording_server() as bot:
            saved = await strict_client.post(
                "/api/v1/bot-flows", json={"name": "bot", "webhook_url": "https://bots.example.test/h", "secret": "s"},
                headers=org.auth,
            )
            assert saved.status_code == 201, saved.text
            resolver = FixedResolver({"bots.example.test": "127.0.0.1"})
            policy = OutboundPolicy(resolver=lambda: resolver)
            number = await make_number(database, app.state.secret_box, org_id=org.id, base_url="http://127.0.0.1:9")
            (contact,) = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155553000"}])
            campaign = await make_active_campaign(
                database, org_id=org.id, number_id=number, audience={"tags_any": ["x"]}, variables={},
                media_row_id=None, bot_flow_id=saved.json()["id"],
            )
            await enqueue(database, org.id, saved.json()["id"], campaign, contact)
            await BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=policy).deliver_due()
            assert await last_errors(database) == ["refused by outbound URL policy: loopback address"]
            assert bot.requests == []

    async def test_an_ip_literal_is_checked_although_no_name_is_resolved(self) -> None:
        async with recording_server() as target:
            async with client_session(STRICT, timeout=aiohttp.ClientTimeout(total=5)) as http:
                with pytest.raises(aiohttp.ClientConnectorError) as raised:
                    await http.get(f"{target.url}/latest/meta-data")
            refusal = refusal_of(raised.value)
            assert refusal is not None and refusal.reason == "loopback address"
            assert target.requests == []

    async def test_a_bot_flow_saved_before_the_policy_is_refused_when_delivering(
        self, app: FastAPI, database: Database, org: OrgHandle
    ) -> None:
        async with recording_server() as target:
            await bot_flow_with_a_delivery(app, database, org, f"{target.url}/hooks/herald")
            await BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=STRICT).deliver_due()
            assert await last_errors(database) == ["refused by outbound URL policy: loopback address"]
            assert target.requests == []

    async def test_a_campaign_from_a_number_saved_before_the_policy_pauses_saying_why(
        self, app: FastAPI, database: Database, org: OrgHandle
    ) -> None:
        box = app.state.secret_box
        number = await make_number(database, box, org_id=org.id, base_url="http://169.254.169.254")
        await make_template(database, org_id=org.id, header_format=None)
        await make_contacts(database, org_id=org.id, specs=[
            {"phone": f"+1415555{4000 + i}", "name": "Ann", "tags": ["vip"], "valued_tags": {"customer_id": "7"}}
            for i in range(3)
        ])
        campaign = await make_active_campaign(database, org_id=org.id, number_id=number,
                                              audience={"tags_any": ["vip"]}, variables=VARIABLES,
                                              media_row_id=None, bot_flow_id=None)

        async def paused() -> bool:
            async with database.read_session() as session:
                row = await session.get(Campaign, campaign, populate_existing=True)
                return row is not None and row.status == "paused"

        async with running_worker(database, box):
            await wait_until(paused)
        async with database.read_session() as session:
            row = await session.get(Campaign, campaign)
            assert row is not None and row.status_reason == "refused by outbound URL policy: cloud metadata address"
        assert (await stats(database, campaign))["sent"] == 0

    async def test_a_graph_api_base_saved_before_the_policy_is_refused_before_sending(self) -> None:
        creds = NumberCredentials(phone_number_id="1", waba_id="2", access_token="token",
                                  graph_api_base="http://169.254.169.254")
        async with CloudAPIClient(outbound=LOOPBACK_ALLOWED) as cloud:
            with pytest.raises(RefusedByPolicy) as raised:
                await cloud.get_number_info(creds)
        # A campaign sending from such a number pauses, saying why.
        assert raised.value.retry_class is RetryClass.PAUSE_CAMPAIGN
        assert raised.value.human_reason == "refused by outbound URL policy: cloud metadata address"


def answering(status: int, text: str, content_type: str = "text/plain", **headers: str) -> Any:
    return lambda request: web.Response(status=status, text=text, content_type=content_type, headers=headers)


SECRET_BODY = "AccessKeyId=ASIA-FROM-THE-METADATA-SERVICE"


class TestWhatTargetsSay:
    async def test_a_failed_bot_delivery_keeps_the_status_not_the_body(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        async with recording_server(answering(500, SECRET_BODY)) as bot:
            await bot_flow_with_a_delivery(app, database, org, f"{bot.url}/hooks/herald")
            await BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED).deliver_due()
            assert len(bot.requests) == 1
        assert await last_errors(database) == ["the bot flow answered HTTP 500"]
        listed = await client.get("/api/v1/bot-deliveries", headers=org.headers(Role.viewer))
        assert listed.status_code == 200 and SECRET_BODY not in listed.text
        assert listed.json()["items"][0]["last_error"] == "the bot flow answered HTTP 500"

    async def test_an_unreachable_bot_gets_a_short_reason_of_herald_s_own(
        self, app: FastAPI, database: Database, org: OrgHandle
    ) -> None:
        await bot_flow_with_a_delivery(app, database, org, f"http://127.0.0.1:{closed_port()}/hooks/herald")
        await BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED).deliver_due()
        assert await last_errors(database) == ["could not reach the bot flow: connection failed"]

    async def test_a_bot_redirect_is_not_followed(self, app: FastAPI, database: Database, org: OrgHandle) -> None:
        async with recording_server() as elsewhere:
            async with recording_server(answering(307, "", Location=f"{elsewhere.url}/x")) as bot:
                await bot_flow_with_a_delivery(app, database, org, f"{bot.url}/hooks/herald")
                engine = BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED)
                await engine.deliver_due()
            assert elsewhere.requests == []
        assert await last_errors(database) == ["the bot flow answered HTTP 307"]

    async def test_a_graph_redirect_is_not_followed(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        async with recording_server() as elsewhere:
            async with recording_server(answering(307, "", Location=f"{elsewhere.url}/v23.0/1090001")) as graph:
                number = await make_number(database, app.state.secret_box, org_id=org.id, base_url=graph.url)
                refreshed = await client.post(f"/api/v1/whatsapp-numbers/{number}/refresh", headers=org.auth)
                assert refreshed.status_code == 200 and len(graph.requests) == 1
            assert elsewhere.requests == []

    async def test_graph_api_base_errors_do_not_tell_what_listens_there(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        """Registering a number against a closed port, a web page and a server error says the same thing."""
        messages = []
        async with (
            recording_server(answering(404, "<h1>Internal admin</h1>", "text/html")) as page,
            recording_server(answering(500, SECRET_BODY)) as failing,
        ):
            for base in (f"http://127.0.0.1:{closed_port()}", page.url, failing.url):
                response = await client.post("/api/v1/whatsapp-numbers", json=number_body(base), headers=org.auth)
                assert response.status_code == 422, response.text
                error = response.json()["error"]
                assert error["details"] == [{"field": "graph_api_base", "message": error["message"]}]
                messages.append(error["message"].replace(base, "<base>"))
        assert messages == ["could not reach the Graph API at <base>: connection failed"] * 3

    async def test_refreshing_a_number_says_as_little(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        async with recording_server(answering(404, "<h1>Internal admin</h1>", "text/html")) as page:
            number = await make_number(database, app.state.secret_box, org_id=org.id, base_url=page.url)
            refreshed = await client.post(f"/api/v1/whatsapp-numbers/{number}/refresh", headers=org.auth)
            synced = await client.post(f"/api/v1/whatsapp-numbers/{number}/sync-templates", headers=org.auth)
        assert refreshed.json()["info_error"] == f"could not reach the Graph API at {page.url}: connection failed"
        # The target's status must not show either (its port may well contain "404": it is left out).
        said = synced.text.replace(page.url, "<base>")
        assert synced.status_code == 502 and "Internal admin" not in said and "404" not in said


def test_recorder_sees_requests() -> None:
    """The helper itself: a request reaching it is recorded (so an empty record means nothing came)."""
    import asyncio

    async def main() -> Recorder:
        async with recording_server() as target, aiohttp.ClientSession() as http:
            await (await http.get(f"{target.url}/x", headers={"Authorization": "Bearer t"})).read()
            return target

    assert asyncio.run(main()).requests == [("GET", "/x", "Bearer t")]
