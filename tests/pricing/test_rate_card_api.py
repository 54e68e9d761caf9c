"""The organization's rate card through the API: read by all, replaced (CSV upload), overridden and
reset by admins; and the forecast it prices in the audience preview, with the campaign's budget."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from herald.auth.principal import Role
from herald.kit.db import Database
from tests.campaigns.conftest import BASE, create
from tests.conftest import OrgHandle
from tests.factories import World, make_contacts

CARD = "/api/v1/rate-card"
UPLOADED = ("# effective: 2026-10-01\n# currency: USD\n# source: test card\n"
            "market,marketing,utility,authentication\n"
            "Argentina,0.07,0.03,0.03\nNorth America,0.025,0.0034,0.0034\nOther,0.05,0.01,0.01\n")


def upload(text: str) -> dict[str, Any]:
    return {"files": {"file": ("card.csv", text.encode(), "text/csv")}}


def markets(body: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {m["market"]: {k: v for k, v in m.items() if k != "market"} for m in body["markets"]}


class TestRateCardApi:
    async def test_everyone_reads_herald_s_card_with_its_date_currency_and_source(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        answer = await client.get(CARD, headers=org.headers(Role.viewer))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["effective"], body["currency"], body["custom"], body["overrides"]) == ("2025-07-01", "USD", False, {})
        assert "Pricing on the WhatsApp Business Platform" in body["source"]
        assert markets(body)["Argentina"] == {"marketing": 0.0618, "utility": 0.0289, "authentication": 0.0289}

    async def test_an_admin_replaces_overrides_and_resets_it_others_may_not(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        for role in (Role.editor, Role.viewer):
            assert (await client.put(CARD, headers=org.headers(role), **upload(UPLOADED))).status_code == 403
            refused = await client.put(f"{CARD}/overrides", headers=org.headers(role), json={"currency": "EUR"})
            assert refused.status_code == 403
            assert (await client.delete(CARD, headers=org.headers(role))).status_code == 403

        answer = await client.put(CARD, headers=org.auth, **upload(UPLOADED))
        assert answer.status_code == 200, answer.text
        assert (answer.json()["effective"], answer.json()["custom"]) == ("2026-10-01", True)
        assert set(markets(answer.json())) == {"Argentina", "North America", "Other"}

        answer = await client.put(f"{CARD}/overrides", headers=org.auth, json={
            "currency": "eur", "overrides": {"Argentina": {"marketing": 0.08}, "Brazil": {"marketing": 0.0625}}})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["currency"] == "EUR"
        assert markets(body)["Argentina"] == {"marketing": 0.08, "utility": 0.03, "authentication": 0.03}
        assert markets(body)["Brazil"]["marketing"] == 0.0625
        # Another organization still has Herald's card.
        theirs = (await client.get(CARD, headers=other_org.auth)).json()
        assert (theirs["custom"], theirs["currency"]) == (False, "USD")

        reset = await client.delete(CARD, headers=org.auth)
        assert (reset.json()["custom"], reset.json()["currency"], reset.json()["overrides"]) == (False, "USD", {})

    async def test_a_bad_card_is_a_422_naming_every_bad_line_and_changes_nothing(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        bad = "market,marketing,utility,authentication\nArgentina,x,0.03,0.03\nOther,0.05,0.01\n"
        answer = await client.put(CARD, headers=org.auth, **upload(bad))
        assert answer.status_code == 422, answer.text
        assert [d["field"] for d in answer.json()["error"]["details"]] == ["line 2", "line 3"]
        assert (await client.get(CARD, headers=org.auth)).json()["custom"] is False
        assert (await client.put(CARD, headers=org.auth, files={"other": ("a", b"x")})).status_code == 422
        assert (await client.put(CARD, headers=org.auth, **upload("\udcff".encode("utf-8", "surrogateescape")
                                                                  .decode("latin-1")))).status_code == 422

    @pytest.mark.parametrize(("body", "field"), [
        ({"currency": "dollars"}, "currency"),
        ({"overrides": {"Argentina": {"service": 0.1}}}, "overrides.Argentina.service"),
        ({"overrides": {"Argentina": {"marketing": -1}}}, "overrides.Argentina.marketing"),
        ({"overrides": {" ": {"marketing": 1}}}, "overrides. "),
    ])
    async def test_bad_overrides_are_422_naming_the_field(
        self, client: httpx.AsyncClient, org: OrgHandle, body: dict[str, Any], field: str
    ) -> None:
        answer = await client.put(f"{CARD}/overrides", headers=org.auth, json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"][0]["field"] == field


class TestForecastInThePreview:
    async def test_the_eligible_audience_is_priced_by_country_at_the_template_category_s_rate(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        # The world's VIP (+33: France, "Other" on Herald's card), plus 3 in Argentina,
        # 2 in Algeria and an Argentine who opted out (not eligible: not priced).
        await make_contacts(database, org_id=org.id, specs=[
            *({"phone": f"+54911500000{i:02d}", "tags": ["vip"]} for i in range(3)),
            *({"phone": f"+21355123456{i}", "tags": ["vip"]} for i in range(2)),
            {"phone": "+5491150000099", "tags": ["vip"], "opted_out": True},
        ])
        campaign = await create(client, org, world.campaign(budget=0.25))
        answer = await client.post(f"{BASE}/{campaign['id']}/audience-preview", headers=org.headers(Role.viewer))
        assert answer.status_code == 200, answer.text
        cost = answer.json()["cost"]
        assert [(c["country"], c["market"], c["contacts"], c["price"]) for c in cost["countries"]] == [
            ("AR", "Argentina", 3, 0.0618), ("FR", "Other", 1, 0.0604), ("DZ", "Rest of Africa", 2, 0.0225)]
        assert cost["total"] == pytest.approx(3 * 0.0618 + 0.0604 + 2 * 0.0225)
        assert (cost["currency"], cost["category"], cost["contacts"]) == ("USD", "marketing", 6)
        assert (cost["budget"], cost["over_budget"]) == (0.25, True)

        # An override prices Argentina anew; the budget raised above the forecast clears the warning.
        await client.put(f"{CARD}/overrides", headers=org.auth, json={"overrides": {"Argentina": {"marketing": 0.01}}})
        raised = await client.patch(f"{BASE}/{campaign['id']}", headers=org.auth, json={"budget": 1})
        assert raised.status_code == 200, raised.text
        cost = (await client.post(f"{BASE}/{campaign['id']}/audience-preview", headers=org.auth)).json()["cost"]
        assert cost["total"] == pytest.approx(3 * 0.01 + 0.0604 + 2 * 0.0225)
        assert (cost["budget"], cost["over_budget"]) == (1.0, False)

    @pytest.mark.parametrize("budget", [0, -1, "much", 2e9])
    async def test_a_bad_budget_is_a_422_naming_the_field(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, budget: Any
    ) -> None:
        answer = await client.post(BASE, headers=org.auth, json=world.campaign(budget=budget))
        assert answer.status_code == 422, answer.text
        assert "budget" in str(answer.json()["error"]["details"])
