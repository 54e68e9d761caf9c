"""The engine end to end: a real worker sends a campaign to the simulator over loopback."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.simulator import Scenario, SimulatorServer
from herald.whatsapp import CloudAPIClient, NumberCredentials
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.dispatch.helpers import done_sending, messages, running_worker, sim_messages, stats, wait_until
from tests.factories import (
    engage,
    graph_template,
    make_active_campaign,
    make_bot_flow,
    make_contacts,
    make_media,
    make_number,
    make_template,
)

UNREACHABLE = "+14155550104"


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    scenario = Scenario.model_validate({
        "templates": [graph_template()], "unreachable": [UNREACHABLE], "seed": 7,
        "read_probability": 0, "reply_probability": 0,
    })
    with SimulatorServer(scenario, webhook_url=None, app_secret="sim-secret") as sim:
        yield sim


async def upload_banner(base_url: str) -> str:
    creds = NumberCredentials(phone_number_id="1090001", waba_id="2090001", access_token="sim-token",
                              graph_api_base=base_url)
    async with CloudAPIClient(outbound=LOOPBACK_ALLOWED) as client:
        return await client.upload_media(creds, b"\x89PNG\r\n\x1a\n" + b"0" * 64, "banner.png", "image/png")


VARIABLES = {
    "1": {"source": "contact_name"},
    "2": {"source": "valued_tag", "key": "customer_id"},
    "3": {"source": "text", "value": "20%"},
}


class TestCampaignDispatch:
    # `herald worker` on PostgreSQL claims and records on a loop of its own thread (database_thread),
    # the embedded worker on its own loop: the same outcomes either way, on both databases.
    @pytest.mark.parametrize("database_thread", [False, True], ids=["inline", "database-thread"])
    async def test_every_contact_ends_in_the_right_state_with_one_send_each(
        self, app: FastAPI, database: Database, org: OrgHandle, simulator: SimulatorServer, database_thread: bool
    ) -> None:
        box: SecretBox = app.state.secret_box
        number_id = await make_number(database, box, org_id=org.id, base_url=simulator.base_url)
        await make_template(database, org_id=org.id)
        media_row = await make_media(database, org_id=org.id, number_id=number_id,
                                     media_id=await upload_banner(simulator.base_url))
        bot = await make_bot_flow(database, box, org_id=org.id)
        vip = {"tags": ["vip"], "valued_tags": {"customer_id": "8812"}}
        ids = await make_contacts(database, org_id=org.id, specs=[
            {"phone": "+14155550101", "name": "Maria", **vip},
            {"phone": "+14155550102", "name": "Case", "open_case": True, **vip},
            {"phone": "+14155550103", "name": "NoTag", "tags": ["vip"]},
            {"phone": UNREACHABLE, "name": "Ghost", **vip},
            {"phone": "+14155550105", "name": "Busy", **vip},
            {"phone": "+14155550106", "name": "Stopped", "opted_out": True, **vip},
            {"phone": "+14155550107", "name": None, **vip},
            {"phone": "+14155550108", "name": "Other", "tags": ["newsletter"]},
        ])
        maria, case, notag, ghost, busy, stopped, nameless, other = ids
        elsewhere = await make_active_campaign(
            database, org_id=org.id, number_id=number_id, audience={"tags_any": ["nobody"]}, variables=VARIABLES,
            media_row_id=media_row, bot_flow_id=bot, name="Elsewhere",
        )
        await engage(database, contact_id=busy, campaign_id=elsewhere)

        campaign = await make_active_campaign(
            database, org_id=org.id, number_id=number_id, audience={"tags_any": ["vip"]}, variables=VARIABLES,
            media_row_id=media_row, bot_flow_id=bot,
        )
        async with running_worker(database, box, database_thread=database_thread) as worker:
            await wait_until(lambda: done_sending(database, campaign))
            assert (worker.database_work is not None) == database_thread

        rows = await messages(database, campaign)
        assert other not in rows
        assert {c: (m.status, m.error_msg) for c, m in rows.items()} == {
            maria: ("sent", None),
            case: ("not_sent", "contact has an open case in Inbox"),
            notag: ("not_sent", "valued tag 'customer_id' missing"),
            ghost: ("sent", None),  # accepted; the async 131026 arrives by webhook
            busy: ("not_sent", "already part of an active campaign"),
            stopped: ("not_sent", "contact opted out of marketing"),
            nameless: ("sent", None),
        }
        assert all(rows[c].wamid for c in (maria, ghost, nameless))

        sent = sim_messages(simulator.base_url)
        assert Counter(m["to"] for m in sent) == Counter({"+14155550101": 1, UNREACHABLE: 1, "+14155550107": 1})
        by_to = {m["to"]: m for m in sent}
        assert by_to["+14155550101"]["parameters"] == ["Maria", "8812", "20%"]
        assert by_to["+14155550107"]["parameters"] == ["there", "8812", "20%"]
        assert by_to["+14155550101"]["header"]["type"] == "image"
        assert by_to["+14155550101"]["biz_opaque_callback_data"] == str(rows[maria].id)

        counts = await stats(database, campaign)
        assert counts == {"targeted": 7, "pending": 0, "sent": 3, "received": 0, "read": 0, "replied": 0,
                          "unknown": 0, "not_sent": 4, "holdout": 0}


class TestExpiredHeaderMedia:
    async def test_an_expired_media_id_is_uploaded_again_before_sending(
        self, app: FastAPI, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        from datetime import timedelta

        from sqlalchemy import update

        from herald.kit.types import utcnow
        from herald.models import Media

        box: SecretBox = app.state.secret_box
        number_id = await make_number(database, box, org_id=org.id, base_url=simulator.base_url)
        await make_template(database, org_id=org.id)
        old_id = await upload_banner(simulator.base_url)
        media_row = await make_media(database, org_id=org.id, number_id=number_id, media_id=old_id)
        async with database.session() as session:
            await session.execute(update(Media).where(Media.id == media_row).values(
                expires_at=utcnow() - timedelta(hours=1), content=b"\x89PNG\r\n\x1a\n" + b"1" * 64))
        simulator.advance_clock(31 * 24 * 3600)  # Meta has forgotten the old id by now
        await make_contacts(database, org_id=org.id, specs=[
            {"phone": "+14155550111", "name": "Maria", "tags": ["vip"], "valued_tags": {"customer_id": "1"}},
        ])
        campaign = await make_active_campaign(
            database, org_id=org.id, number_id=number_id, audience={"tags_any": ["vip"]}, variables=VARIABLES,
            media_row_id=media_row, bot_flow_id=None,
        )
        async with running_worker(database, box):
            await wait_until(lambda: done_sending(database, campaign))
        async with database.read_session() as session:
            fresh = await session.get(Media, media_row)
        assert fresh is not None and fresh.media_id != old_id and fresh.expires_at > utcnow() + timedelta(days=29)
        [sent] = sim_messages(simulator.base_url)
        assert sent["header"]["media_id"] == fresh.media_id
