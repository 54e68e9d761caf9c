"""Rows for tests, inserted directly: numbers, templates, media, bot flows, contacts, campaigns."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from herald.campaigns import counters
from herald.campaigns.launch import launch_campaign
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import (
    BotFlow,
    Campaign,
    Contact,
    ContactTag,
    ContactValuedTag,
    Engagement,
    InboxCase,
    Media,
    Tag,
    Template,
    WhatsAppNumber,
)

PROMO_COMPONENTS = [
    {"type": "HEADER", "format": "IMAGE"},
    {"type": "BODY", "text": "Hi {{1}}, your code {{2}} gets {{3}} off"},
    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}]},
]


def graph_template(name: str = "promo", language: str = "en_US", components: list[Any] | None = None,
                   status: str = "APPROVED", parameter_format: str = "POSITIONAL") -> dict[str, Any]:
    return {"id": f"t-{name}", "name": name, "language": language, "status": status, "category": "MARKETING",
            "parameter_format": parameter_format, "components": components or PROMO_COMPONENTS}


async def make_number(database: Database, box: SecretBox, *, org_id: int, base_url: str,
                      phone_number_id: str = "1090001", waba_id: str = "2090001", throughput: int = 80,
                      token: str = "sim-token", app_secret: str = "sim-secret") -> int:
    async with database.session() as session:
        number = WhatsAppNumber(
            org_id=org_id, display_phone_number="+1 555 000 0001", phone_number_id=phone_number_id,
            waba_id=waba_id, access_token_enc=box.encrypt(token), app_secret_enc=box.encrypt(app_secret),
            verify_token_enc=box.encrypt("verify"), graph_api_base=base_url, graph_api_version="v23.0",
            throughput_mps=throughput,
        )
        session.add(number)
        await session.flush()
        return number.id


async def make_template(database: Database, *, org_id: int, waba_id: str = "2090001", name: str = "promo",
                        language: str = "en_US", variables: list[str] | None = None,
                        header_format: str | None = "IMAGE") -> int:
    async with database.session() as session:
        template = Template(
            org_id=org_id, waba_id=waba_id, name=name, language=language, status="APPROVED", category="MARKETING",
            parameter_format="POSITIONAL", components=PROMO_COMPONENTS, variables=variables or ["1", "2", "3"],
            header_format=header_format, quick_reply_count=1, usable=True,
        )
        session.add(template)
        await session.flush()
        return template.id


async def make_media(database: Database, *, org_id: int, number_id: int, media_id: str) -> int:
    async with database.session() as session:
        media = Media(org_id=org_id, whatsapp_number_id=number_id, media_id=media_id, mime_type="image/png",
                      filename="banner.png", size=4, content=b"\x89PNG", uploaded_at=utcnow(),
                      expires_at=utcnow() + timedelta(days=30))
        session.add(media)
        await session.flush()
        return media.id


async def make_bot_flow(database: Database, box: SecretBox, *, org_id: int, url: str = "http://127.0.0.1:9/bot",
                        secret: str = "bot-secret") -> int:
    async with database.session() as session:
        flow = BotFlow(org_id=org_id, name="bot", webhook_url=url, secret_enc=box.encrypt(secret))
        session.add(flow)
        await session.flush()
        return flow.id


async def make_contacts(database: Database, *, org_id: int, specs: list[dict[str, Any]]) -> list[int]:
    """Each spec: phone, name?, tags?, valued_tags?, opted_out?, open_case?"""
    ids = []
    async with database.session() as session:
        tag_ids: dict[str, int] = {}
        for spec in specs:
            contact = Contact(org_id=org_id, phone=spec["phone"], phone_raw=spec["phone"], name=spec.get("name"),
                              opted_out_at=utcnow() if spec.get("opted_out") else None)
            session.add(contact)
            await session.flush()
            for tag in spec.get("tags", []):
                if tag not in tag_ids:
                    row = Tag(org_id=org_id, name=tag)
                    session.add(row)
                    await session.flush()
                    tag_ids[tag] = row.id
                session.add(ContactTag(tag_id=tag_ids[tag], contact_id=contact.id))
            for key, value in spec.get("valued_tags", {}).items():
                session.add(ContactValuedTag(contact_id=contact.id, org_id=org_id, key=key, value=value))
            if spec.get("open_case"):
                session.add(InboxCase(org_id=org_id, contact_id=contact.id, status="open"))
            ids.append(contact.id)
        await session.flush()
    return ids


async def make_active_campaign(database: Database, *, org_id: int, number_id: int, audience: dict[str, Any] | None,
                               variables: dict[str, Any], media_row_id: int | None, bot_flow_id: int | None,
                               rate: float = 50, test_contact_ids: list[int] | None = None,
                               template: str = "promo", name: str = "Spring", status: str = "active") -> int:
    async with database.session() as session:
        campaign = Campaign(
            org_id=org_id, name=name, status=status, kind="test" if test_contact_ids else "real",
            whatsapp_number_id=number_id, audience=audience, test_contact_ids=test_contact_ids,
            template_name=template, template_language="en_US", variables=variables, header_media_id=media_row_id,
            bot_flow_id=bot_flow_id, rate_per_second=rate, started_at=utcnow(), missing=[],
        )
        session.add(campaign)
        await session.flush()
        await counters.ensure_row(session, campaign_id=campaign.id)
        if status == "active":
            await launch_campaign(session, campaign_id=campaign.id)
        return campaign.id


async def engage(database: Database, *, contact_id: int, campaign_id: int) -> None:
    async with database.session() as session:
        session.add(Engagement(contact_id=contact_id, campaign_id=campaign_id))
