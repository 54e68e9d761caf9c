"""Rows the campaign tests need, inserted straight into the database (no other domain's service)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import select

from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import (
    BotFlow,
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

PROMO = {"name": "promo", "language": "en_US"}
NAMED = {"name": "named_promo", "language": "en_US"}


async def make_number(database: Database, org_id: int, *, waba_id: str = "waba-1", throughput_mps: int = 80) -> int:
    async with database.session() as session:
        number = WhatsAppNumber(
            org_id=org_id, display_phone_number="+1 555 0100", phone_number_id=f"pn-{uuid4().hex[:12]}",
            waba_id=waba_id, access_token_enc="x", app_secret_enc="x", verify_token_enc="x",
            throughput_mps=throughput_mps,
        )
        session.add(number)
        await session.flush()
        return number.id


async def make_template(
    database: Database,
    org_id: int,
    *,
    waba_id: str = "waba-1",
    name: str = PROMO["name"],
    language: str = PROMO["language"],
    variables: list[str] | None = None,
    header_format: str | None = "IMAGE",
    usable: bool = True,
    reason: str | None = None,
    parameter_format: str = "POSITIONAL",
) -> int:
    async with database.session() as session:
        template = Template(
            org_id=org_id, waba_id=waba_id, name=name, language=language, status="APPROVED",
            category="MARKETING", parameter_format=parameter_format, components=[],
            variables=["1", "2"] if variables is None else variables, header_format=header_format,
            usable=usable, reason=reason,
        )
        session.add(template)
        await session.flush()
        return template.id


async def make_bot_flow(database: Database, org_id: int) -> int:
    async with database.session() as session:
        flow = BotFlow(org_id=org_id, name="Sales bot", webhook_url="https://bot.example/hook", secret_enc="x")
        session.add(flow)
        await session.flush()
        return flow.id


async def make_media(database: Database, org_id: int, number_id: int, *, mime_type: str = "image/jpeg") -> int:
    async with database.session() as session:
        now = utcnow()
        media = Media(
            org_id=org_id, whatsapp_number_id=number_id, media_id=f"m-{uuid4().hex[:8]}", mime_type=mime_type,
            filename="banner.jpg", size=3, content=b"jpg", uploaded_at=now, expires_at=now + timedelta(days=30),
        )
        session.add(media)
        await session.flush()
        return media.id


async def make_contact(
    database: Database,
    org_id: int,
    phone: str,
    *,
    tags: list[str] | None = None,
    valued_tags: dict[str, str] | None = None,
    opted_out: bool = False,
    name: str | None = None,
) -> int:
    async with database.session() as session:
        contact = Contact(
            org_id=org_id, phone=phone, phone_raw=phone, name=name, opted_out_at=utcnow() if opted_out else None
        )
        session.add(contact)
        await session.flush()
        for tag_name in tags or []:
            tag_id = (
                await session.execute(select(Tag.id).where(Tag.org_id == org_id, Tag.name == tag_name))
            ).scalar_one_or_none()
            if tag_id is None:
                tag = Tag(org_id=org_id, name=tag_name)
                session.add(tag)
                await session.flush()
                tag_id = tag.id
            session.add(ContactTag(tag_id=tag_id, contact_id=contact.id))
        for key, value in (valued_tags or {}).items():
            session.add(ContactValuedTag(contact_id=contact.id, key=key, org_id=org_id, value=value))
        await session.flush()
        return contact.id


async def open_case(database: Database, org_id: int, contact_id: int) -> None:
    async with database.session() as session:
        session.add(InboxCase(org_id=org_id, contact_id=contact_id, status="open"))


async def engage(database: Database, contact_id: int, campaign_id: int) -> None:
    async with database.session() as session:
        session.add(Engagement(contact_id=contact_id, campaign_id=campaign_id))


@dataclass
class World:
    """An organization ready to run campaigns: a number, its templates, header media and a bot flow."""

    org_id: int
    number_id: int
    media_id: int
    bot_flow_id: int
    ids: dict[str, int] = field(default_factory=dict)

    def campaign(self, **overrides: Any) -> dict[str, Any]:
        """A complete campaign body (it saves as ready), with ``overrides`` applied."""
        body: dict[str, Any] = {
            "name": "Spring sale",
            "whatsapp_number_id": self.number_id,
            "audience": {"tags_any": ["vip"]},
            "template": PROMO,
            "variables": {
                "1": {"source": "contact_name", "fallback": "friend"},
                "2": {"source": "text", "value": "20% off"},
            },
            "header_media_id": self.media_id,
            "bot_flow_id": self.bot_flow_id,
        }
        body.update(overrides)
        return body

    def without(self, *fields: str) -> dict[str, Any]:
        """A complete body minus ``fields``."""
        body = self.campaign()
        for name in fields:
            body.pop(name)
        return body


async def make_world(database: Database, org_id: int, *, waba_id: str = "waba-1", throughput_mps: int = 80) -> World:
    number_id = await make_number(database, org_id, waba_id=waba_id, throughput_mps=throughput_mps)
    await make_template(database, org_id, waba_id=waba_id)
    await make_template(
        database, org_id, waba_id=waba_id, name=NAMED["name"], variables=["first_name"], header_format=None,
        usable=False, parameter_format="NAMED", reason="named placeholders ({{first_name}}) are not supported",
    )
    media_id = await make_media(database, org_id, number_id)
    bot_flow_id = await make_bot_flow(database, org_id)
    return World(org_id=org_id, number_id=number_id, media_id=media_id, bot_flow_id=bot_flow_id)
