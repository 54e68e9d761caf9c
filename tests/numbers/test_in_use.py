"""A number, bot flow or media chosen by a campaign cannot be deleted from under it."""

from __future__ import annotations

import httpx

from herald.kit.db import Database
from herald.models import Campaign
from herald.simulator import SimulatorServer
from tests.conftest import OrgHandle
from tests.numbers.helpers import register_number

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_things_a_campaign_uses_cannot_be_deleted(
    client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, database: Database
) -> None:
    number = await register_number(client, org, sim.base_url)
    media = (await client.post(f"/api/v1/whatsapp-numbers/{number['id']}/media",
                               files={"file": ("a.png", PNG, "image/png")}, headers=org.auth)).json()
    bot_flow = (await client.post("/api/v1/bot-flows", json={
        "name": "bot", "webhook_url": "https://bots.example.com", "secret": "s"}, headers=org.auth)).json()
    async with database.session() as session:
        session.add(Campaign(org_id=org.id, name="c", whatsapp_number_id=number["id"],
                             header_media_id=media["id"], bot_flow_id=bot_flow["id"]))
    for path, code in [
        (f"/api/v1/media/{media['id']}", "media_in_use"),
        (f"/api/v1/bot-flows/{bot_flow['id']}", "bot_flow_in_use"),
        (f"/api/v1/whatsapp-numbers/{number['id']}", "whatsapp_number_in_use"),
    ]:
        response = await client.delete(path, headers=org.auth)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == code
        assert (await client.get(path, headers=org.auth)).status_code == 200
