"""A campaign's cost forecast leaves out the contacts its holdout will keep: they are never sent, so
never billed (docs/costs.md, "Forecast, before launch")."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.factories import make_active_campaign, make_contacts, make_number


@pytest.mark.parametrize("holdout", [0.0, 20.0])
async def test_the_forecast_prices_the_contacts_the_holdout_leaves(
    app: FastAPI, database: Database, org: OrgHandle, client: httpx.AsyncClient, holdout: float
) -> None:
    number = await make_number(database, app.state.secret_box, org_id=org.id)
    await make_contacts(database, org_id=org.id, specs=[
        {"phone": f"+54911234{i:05d}", "tags": ["vip"]} for i in range(50)
    ])
    campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]},
                                          variables={}, media_row_id=None, bot_flow_id=None, status="draft",
                                          holdout_percent=holdout)
    answer = await client.post(f"/api/v1/campaigns/{campaign}/audience-preview", headers=org.auth)
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert preview["eligible"] == 50
    cost = preview["cost"]
    expected = round(50 * (1 - holdout / 100))
    assert (cost["contacts"], cost["held_out"]) == (expected, 50 - expected)
    assert cost["countries"][0]["contacts"] == expected
    assert cost["total"] == pytest.approx(expected * cost["countries"][0]["price"])
