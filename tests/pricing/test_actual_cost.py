"""The actual cost from the ``pricing`` objects of status webhooks (docs/costs.md, "Actual cost"):
each message priced once, at its recipient's market and Meta's category on the organization's card
then; 0 when Meta says it is not billable; counted in the stats."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from herald.kit.db import Database
from herald.kit.types import utcnow
from tests.conftest import OrgHandle
from tests.factories import make_number
from tests.webhooks.helpers import (
    APP_SECRET,
    NUMBER_1,
    WABA_1,
    drain,
    make_campaign,
    make_messages,
    message,
    post_signed,
    status,
    status_body,
)

ARGENTINA = "5491150000001"


class TestActualCost:
    async def test_each_message_is_priced_once_from_its_first_priced_status(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        number_id = await make_number(database, app.state.secret_box, org_id=org.id, phone_number_id=NUMBER_1,
                                      waba_id=WABA_1, app_secret=APP_SECRET)
        campaign = await make_campaign(database, org_id=org.id, number_id=number_id)
        sent_at = utcnow() - timedelta(minutes=5)
        paid, free, failed = await make_messages(database, org_id=org.id, campaign_id=campaign, specs=[
            {"status": "sent", "wamid": f"wamid.cost{i}", "sent_at": sent_at} for i in range(3)])
        at = int(sent_at.timestamp())
        not_billable = status("wamid.cost1", "sent", at + 1, callback=str(free), recipient=ARGENTINA)
        not_billable["pricing"] = {"billable": False, "pricing_model": "PMP", "type": "free_customer_service",
                                   "category": "utility"}
        body = status_body([
            status("wamid.cost0", "sent", at + 1, callback=str(paid), recipient=ARGENTINA),
            not_billable,
            status("wamid.cost2", "failed", at + 1, callback=str(failed), recipient=ARGENTINA),
        ])
        assert (await post_signed(client, body)).status_code == 200
        await drain(database)
        # A later status carries pricing again: not counted twice.
        delivered = status_body([status("wamid.cost0", "delivered", at + 2, callback=str(paid), recipient=ARGENTINA)])
        assert (await post_signed(client, delivered)).status_code == 200
        await drain(database)

        rows = [await message(database, i) for i in (paid, free, failed)]
        assert [(m.pricing_category, m.price) for m in rows] == [("marketing", 0.0618), ("utility", 0.0), (None, None)]
        stats = (await client.get(f"/api/v1/campaigns/{campaign}/stats", headers=org.auth)).json()
        assert stats["cost"]["actual"] == pytest.approx(0.0618)

        # The organization's card at the time prices it: a later change does not reprice what was priced.
        await client.put("/api/v1/rate-card/overrides", headers=org.auth,
                         json={"overrides": {"Argentina": {"marketing": 1.0}}})
        again = status_body([status("wamid.cost0", "read", at + 3, callback=str(paid), recipient=ARGENTINA)])
        await post_signed(client, again)
        await drain(database)
        assert (await message(database, paid)).price == 0.0618
