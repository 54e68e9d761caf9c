"""Seeding the demo organization through the REST API, the way a user would set Herald up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from herald.demo import data, video
from herald.demo.api import Api


@dataclass(frozen=True)
class Seeded:
    number_id: int
    bot_flow_id: int
    # The teaser video for the campaign's variant B, uploaded by this run (the simulator knows no older one).
    teaser_media_id: int
    contacts: int
    unusable: list[dict[str, Any]]


async def seed(api: Api, *, sim_url: str, bot_url: str, count: int) -> Seeded:
    """Number wired to the simulator, templates, a banner image and a teaser video, the bot flow, contacts
    and open cases."""
    existing = (await api.get("/whatsapp-numbers"))["items"]
    if existing:  # --keep: the data of the previous run is still there, only the bot's port changed
        return await _reuse(api, existing[0]["id"], sim_url=sim_url, bot_url=bot_url)
    number = await api.post("/whatsapp-numbers", {
        "display_phone_number": data.DISPLAY_PHONE_NUMBER, "phone_number_id": data.PHONE_NUMBER_ID,
        "waba_id": data.WABA_ID, "access_token": data.ACCESS_TOKEN, "app_secret": data.APP_SECRET,
        "verify_token": data.VERIFY_TOKEN, "graph_api_base": sim_url,
    })
    synced = await api.post(f"/whatsapp-numbers/{number['id']}/sync-templates")
    teaser_media_id = await _upload_media(api, number["id"])
    flow = await api.post("/bot-flows", {"name": "Demo bot", "webhook_url": bot_url, "secret": data.BOT_SECRET})
    people = data.contacts(count)
    imported = await api.upload("/contacts/import", filename="demo-contacts.csv",
                                content=data.contacts_csv(people), content_type="text/csv")
    await _open_cases(api, [p.phone for p in people if p.open_case])
    return Seeded(number_id=number["id"], bot_flow_id=flow["id"], teaser_media_id=teaser_media_id,
                  contacts=imported["imported"] + imported["updated"], unusable=synced["unusable"])


async def _reuse(api: Api, number_id: int, *, sim_url: str, bot_url: str) -> Seeded:
    # Moving a number to another Graph API base needs its secrets again (and an admin: the demo key is one).
    await api.call("PATCH", f"/whatsapp-numbers/{number_id}", json={
        "graph_api_base": sim_url, "access_token": data.ACCESS_TOKEN, "app_secret": data.APP_SECRET,
    })
    flows = (await api.get("/bot-flows"))["items"]
    flow = next(f for f in flows if f["name"] == "Demo bot")
    await api.call("PATCH", f"/bot-flows/{flow['id']}", json={"webhook_url": bot_url})
    synced = await api.post(f"/whatsapp-numbers/{number_id}/sync-templates")
    # The simulator starts afresh: the media ids it gave last time are gone.
    teaser_media_id = await _upload_media(api, number_id)
    tags = await api.get("/tags")
    count = next((t["contacts"] for t in tags if t["name"] == data.AUDIENCE_TAG), 0)
    return Seeded(number_id=number_id, bot_flow_id=flow["id"], teaser_media_id=teaser_media_id, contacts=count,
                  unusable=synced["unusable"])


async def _upload_media(api: Api, number_id: int) -> int:
    """The banner and the teaser; returns the teaser's media id."""
    await api.upload(f"/whatsapp-numbers/{number_id}/media", filename="winter-banner.png",
                     content=data.banner_png(), content_type="image/png")
    teaser = await api.upload(f"/whatsapp-numbers/{number_id}/media", filename=video.FILENAME,
                     content=video.teaser_mp4(), content_type="video/mp4")
    return int(teaser["id"])


async def _open_cases(api: Api, phones: list[str]) -> None:
    # A handful of cases: a few at a time keeps SQLite's single writer from queueing them all at once.
    for start in range(0, len(phones), 8):
        batch = phones[start:start + 8]
        await asyncio.gather(*(api.post("/cases", {"phone": p, "subject": "Asked about a refund"}) for p in batch))
