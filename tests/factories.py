"""The rows tests start from, one factory per thing.

Most insert straight into the database (numbers, templates, media, bot flows, contacts, engagements,
open cases, campaigns, and ``make_world``, an organization ready to run campaigns); ``create_contact``
goes through the API, the way users make contacts. Secrets are encrypted with the key the ``settings``
fixture gives the app (``TEST_BOX``), so the app can read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
from tests.conftest import TEST_FERNET_KEY, OrgHandle

TEST_BOX = SecretBox(TEST_FERNET_KEY)

# Valid numbers (libphonenumber) in a few countries; the French mobile range is wide enough to count on.
US_PHONE = "+14155552671"
UK_PHONE = "+447911123456"
FR_PHONE = "+33612345678"

PROMO_COMPONENTS = [
    {"type": "HEADER", "format": "IMAGE"},
    {"type": "BODY", "text": "Hi {{1}}, your code {{2}} gets {{3}} off"},
    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}]},
]
PROMO = {"name": "promo", "language": "en_US"}
NAMED = {"name": "named_promo", "language": "en_US"}


# The one contact ``make_world`` adds (tag ``vip``), so that ``World.campaign()`` saves as ready.
WORLD_VIP_PHONE = "+33699999999"


def fr_mobile(n: int) -> str:
    return f"+336{n:08d}"


def graph_template(name: str = "promo", language: str = "en_US", components: list[Any] | None = None,
                   status: str = "APPROVED", parameter_format: str = "POSITIONAL") -> dict[str, Any]:
    """A template as the Graph API lists it (what the simulator serves)."""
    return {"id": f"t-{name}", "name": name, "language": language, "status": status, "category": "MARKETING",
            "parameter_format": parameter_format, "components": components or PROMO_COMPONENTS}


async def make_number(database: Database, box: SecretBox = TEST_BOX, *, org_id: int, base_url: str | None = None,
                      phone_number_id: str = "1090001", waba_id: str = "2090001", throughput_mps: int = 80,
                      token: str = "sim-token", app_secret: str = "sim-secret") -> int:
    """A number; the defaults are the simulator's default number. ``base_url`` None keeps Meta's."""
    async with database.session() as session:
        number = WhatsAppNumber(
            org_id=org_id, display_phone_number="+1 555 000 0001", phone_number_id=phone_number_id,
            waba_id=waba_id, access_token_enc=box.encrypt(token), app_secret_enc=box.encrypt(app_secret),
            verify_token_enc=box.encrypt("verify"), graph_api_version="v23.0", throughput_mps=throughput_mps,
        )
        if base_url is not None:
            number.graph_api_base = base_url
        session.add(number)
        await session.flush()
        return number.id


def _quick_reply_count(components: list[Any]) -> int:
    return sum(1 for component in components if component.get("type") == "BUTTONS"
               for button in component.get("buttons", []) if button.get("type") == "QUICK_REPLY")


async def make_template(database: Database, *, org_id: int, waba_id: str = "2090001", name: str = PROMO["name"],
                        language: str = PROMO["language"], variables: list[str] | None = None,
                        header_format: str | None = "IMAGE", components: list[Any] | None = None,
                        usable: bool = True, reason: str | None = None,
                        parameter_format: str = "POSITIONAL", category: str = "MARKETING") -> int:
    """An approved template; by default the promo of ``PROMO_COMPONENTS`` (variables 1, 2 and 3)."""
    components = PROMO_COMPONENTS if components is None else components
    async with database.session() as session:
        template = Template(
            org_id=org_id, waba_id=waba_id, name=name, language=language, status="APPROVED", category=category,
            parameter_format=parameter_format, components=components,
            variables=["1", "2", "3"] if variables is None else variables, header_format=header_format,
            quick_reply_count=_quick_reply_count(components), usable=usable, reason=reason,
        )
        session.add(template)
        await session.flush()
        return template.id


async def make_media(database: Database, *, org_id: int, number_id: int, media_id: str | None = None) -> int:
    """A header image uploaded to ``number_id``; ``media_id`` is Meta's id (a fresh one by default)."""
    async with database.session() as session:
        media = Media(org_id=org_id, whatsapp_number_id=number_id, media_id=media_id or f"m-{uuid4().hex[:8]}",
                      mime_type="image/png", filename="banner.png", size=4, content=b"\x89PNG", uploaded_at=utcnow(),
                      expires_at=utcnow() + timedelta(days=30))
        session.add(media)
        await session.flush()
        return media.id


async def make_bot_flow(database: Database, box: SecretBox = TEST_BOX, *, org_id: int,
                        url: str = "http://127.0.0.1:9/bot", secret: str = "bot-secret") -> int:
    async with database.session() as session:
        flow = BotFlow(org_id=org_id, name="bot", webhook_url=url, secret_enc=box.encrypt(secret))
        session.add(flow)
        await session.flush()
        return flow.id


async def _tag_id(session: AsyncSession, org_id: int, name: str, known: dict[str, int]) -> int:
    if name not in known:
        tag_id = await session.scalar(select(Tag.id).where(Tag.org_id == org_id, Tag.name == name))
        if tag_id is None:
            tag = Tag(org_id=org_id, name=name)
            session.add(tag)
            await session.flush()
            tag_id = tag.id
        known[name] = tag_id
    return known[name]


async def _add_contact(session: AsyncSession, org_id: int, known_tags: dict[str, int], *, phone: str | None,
                       name: str | None = None, tags: list[str] | None = None,
                       valued_tags: dict[str, str] | None = None, opted_out: bool = False,
                       open_case: bool = False, wa_user_id: str | None = None) -> int:
    contact = Contact(org_id=org_id, phone=phone, phone_raw=phone, name=name, wa_user_id=wa_user_id,
                      opted_out_at=utcnow() if opted_out else None)
    session.add(contact)
    await session.flush()
    for tag in tags or []:
        session.add(ContactTag(tag_id=await _tag_id(session, org_id, tag, known_tags), contact_id=contact.id))
    for key, value in (valued_tags or {}).items():
        session.add(ContactValuedTag(contact_id=contact.id, org_id=org_id, key=key, value=value))
    if open_case:
        session.add(InboxCase(org_id=org_id, contact_id=contact.id, status="open"))
    return contact.id


async def make_contacts(database: Database, *, org_id: int, specs: list[dict[str, Any]]) -> list[int]:
    """One contact per spec, in one transaction. Each spec: phone, name?, tags?, valued_tags?, opted_out?,
    open_case?, wa_user_id? (phone None with a wa_user_id: a username user)."""
    async with database.session() as session:
        known_tags: dict[str, int] = {}
        ids = [await _add_contact(session, org_id, known_tags, **spec) for spec in specs]
        await session.flush()
    return ids


async def make_contact(database: Database, *, org_id: int, phone: str, name: str | None = None,
                       tags: list[str] | None = None, valued_tags: dict[str, str] | None = None,
                       opted_out: bool = False) -> int:
    (contact_id,) = await make_contacts(database, org_id=org_id, specs=[
        {"phone": phone, "name": name, "tags": tags, "valued_tags": valued_tags, "opted_out": opted_out}])
    return contact_id


async def create_contact(client: httpx.AsyncClient, org: OrgHandle, **fields: Any) -> dict[str, Any]:
    """A contact made through the API; ``n`` numbers its French mobile when no phone is given."""
    fields.setdefault("phone", fr_mobile(fields.pop("n", 1)))
    response = await client.post("/api/v1/contacts", json=fields, headers=org.auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def open_case(database: Database, *, org_id: int, contact_id: int) -> None:
    async with database.session() as session:
        session.add(InboxCase(org_id=org_id, contact_id=contact_id, status="open"))


async def engage(database: Database, *, contact_id: int, campaign_id: int) -> None:
    async with database.session() as session:
        session.add(Engagement(contact_id=contact_id, campaign_id=campaign_id))


async def make_active_campaign(database: Database, *, org_id: int, number_id: int, audience: dict[str, Any] | None,
                               variables: dict[str, Any], media_row_id: int | None, bot_flow_id: int | None,
                               rate: float = 50, test_contact_ids: list[int] | None = None,
                               template: str = "promo", name: str = "Spring", status: str = "active",
                               frequency_cap_exempt: bool = False, **columns: Any) -> int:
    """A campaign row in ``status``; an active one is launched (its materialisation enqueued).
    ``columns``: other columns of the campaign (its send window, holdout_percent, variants, experiment_seed…)."""
    async with database.session() as session:
        campaign = Campaign(
            org_id=org_id, name=name, status=status, kind="test" if test_contact_ids else "real",
            whatsapp_number_id=number_id, audience=audience, test_contact_ids=test_contact_ids,
            template_name=template, template_language="en_US", variables=variables, header_media_id=media_row_id,
            bot_flow_id=bot_flow_id, rate_per_second=rate, started_at=utcnow(), missing=[],
            frequency_cap_exempt=frequency_cap_exempt,
        )
        for column, value in columns.items():  # after: they may replace the defaults above (started_at)
            setattr(campaign, column, value)
        session.add(campaign)
        await session.flush()
        await counters.ensure_row(session, campaign_id=campaign.id)
        if status == "active":
            await launch_campaign(session, campaign_id=campaign.id)
        return campaign.id


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


async def make_world(database: Database, org_id: int, *, waba_id: str = "2090001", throughput_mps: int = 80) -> World:
    """The world's promo takes variables 1 and 2; its second template (``NAMED``) is unusable; one
    contact tagged ``vip`` (``ids["vip"]``) is the audience of ``World.campaign()``."""
    number_id = await make_number(database, org_id=org_id, phone_number_id=f"pn-{uuid4().hex[:12]}",
                                  waba_id=waba_id, throughput_mps=throughput_mps)
    await make_template(database, org_id=org_id, waba_id=waba_id, variables=["1", "2"], components=[])
    await make_template(
        database, org_id=org_id, waba_id=waba_id, name=NAMED["name"], variables=["first_name"], header_format=None,
        components=[], usable=False, parameter_format="NAMED",
        reason="named placeholders ({{first_name}}) are not supported",
    )
    media_id = await make_media(database, org_id=org_id, number_id=number_id)
    bot_flow_id = await make_bot_flow(database, org_id=org_id)
    # Someone to send to: a campaign whose audience reaches nobody is not ready (campaigns/readiness.py).
    async with database.session() as session:
        vip = await session.scalar(select(Contact.id).where(Contact.org_id == org_id, Contact.phone == WORLD_VIP_PHONE))
    if vip is None:  # a second world of the organization (another WABA) shares it
        vip = await make_contact(database, org_id=org_id, phone=WORLD_VIP_PHONE, name="World VIP", tags=["vip"])
    return World(org_id=org_id, number_id=number_id, media_id=media_id, bot_flow_id=bot_flow_id, ids={"vip": vip})
