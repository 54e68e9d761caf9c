"""Seeding a benchmark database fast with Core inserts: an org, numbers, a template, tagged contacts,
and active campaigns, materialised before the clock starts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, insert

from bench.common import sync_url
from herald.models import (
    Campaign,
    CampaignStats,
    Contact,
    ContactTag,
    Organization,
    Tag,
    Template,
    WhatsAppNumber,
)

ENCRYPTION_KEY = Fernet.generate_key().decode()
SECRET_KEY = "bench-secret-key-" + "x" * 32
CHUNK = 10_000
TEXT_TEMPLATE = [{"type": "BODY", "text": "Hello {{1}}"}]


def graph_template(waba_id: str) -> dict[str, object]:
    return {"id": f"t-{waba_id}", "name": "hello", "language": "en_US", "status": "APPROVED",
            "category": "MARKETING", "parameter_format": "POSITIONAL", "components": TEXT_TEMPLATE}


@dataclass
class Seeded:
    org_id: int
    number_ids: list[int]
    campaign_ids: list[int]


def _now() -> datetime:
    return datetime.now(UTC)


def seed_contacts(conn, org_id: int, n: int, tag_ids: list[int], phone_base: int = 5511_000_000_000) -> None:  # type: ignore[no-untyped-def]
    """``n`` contacts, contact i carrying tag ``tag_ids[i % len(tag_ids)]``."""
    now = _now()
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        ids = conn.execute(insert(Contact).returning(Contact.id), [
            {"org_id": org_id, "phone": f"+{phone_base + start + i}", "phone_raw": f"+{phone_base + start + i}",
             "name": f"C{start + i}", "created_at": now, "updated_at": now} for i in range(count)
        ]).scalars().all()
        conn.execute(insert(ContactTag), [
            {"tag_id": tag_ids[(start + i) % len(tag_ids)], "contact_id": cid} for i, cid in enumerate(ids)
        ])


def seed(db_url: str, *, contacts: int, numbers: list[tuple[str, str]], base_url: str, throughput: int,
         rate_per_second: float | None = None, rate_per_hour: int | None = None, status: str = "active") -> Seeded:
    from herald.kit.crypto import SecretBox

    box = SecretBox(ENCRYPTION_KEY)
    now = _now()
    engine = create_engine(sync_url(db_url))
    with engine.begin() as conn:
        org_id = conn.execute(insert(Organization).values(slug="bench", name="Bench", created_at=now)
                              .returning(Organization.id)).scalar_one()
        tag_ids = [conn.execute(insert(Tag).values(org_id=org_id, name=f"t{i}").returning(Tag.id)).scalar_one()
                   for i in range(len(numbers))]
        seed_contacts(conn, org_id, contacts, tag_ids)
        number_ids, campaign_ids = [], []
        for index, (phone_number_id, waba_id) in enumerate(numbers):
            number_id = conn.execute(insert(WhatsAppNumber).values(
                org_id=org_id, display_phone_number="+1 555", phone_number_id=phone_number_id, waba_id=waba_id,
                access_token_enc=box.encrypt("bench-token"), app_secret_enc=box.encrypt("bench-app-secret"),
                verify_token_enc=box.encrypt("verify"), graph_api_base=base_url, graph_api_version="v23.0",
                throughput_mps=throughput, created_at=now,
            ).returning(WhatsAppNumber.id)).scalar_one()
            conn.execute(insert(Template).values(
                org_id=org_id, waba_id=waba_id, name="hello", language="en_US", status="APPROVED",
                category="MARKETING", parameter_format="POSITIONAL", components=TEXT_TEMPLATE, variables=["1"],
                header_format=None, quick_reply_count=0, usable=True, synced_at=now,
            ))
            campaign_id = conn.execute(insert(Campaign).values(
                org_id=org_id, kind="real", name=f"bench {index}", status=status, whatsapp_number_id=number_id,
                audience={"tags_any": [f"t{index}"]}, template_name="hello", template_language="en_US",
                variables={"1": {"source": "contact_name"}}, missing=[], rate_per_second=rate_per_second,
                rate_per_hour=rate_per_hour, started_at=now, auto_end_after_hours=72.0, materialize_cursor=0,
                created_at=now, updated_at=now,
            ).returning(Campaign.id)).scalar_one()
            conn.execute(insert(CampaignStats).values(campaign_id=campaign_id, targeted=0, pending=0, sent=0,
                                                      received=0, read=0, replied=0, unknown=0, not_sent=0))
            number_ids.append(number_id)
            campaign_ids.append(campaign_id)
    engine.dispose()
    return Seeded(org_id, number_ids, campaign_ids)


async def _materialize(db_url: str, campaign_ids: list[int]) -> None:
    from herald.dispatch.materialize import materialize_chunk
    from herald.kit.db import Database

    database = Database.connect(db_url)
    try:
        for campaign_id in campaign_ids:
            while True:
                async with database.session() as session:
                    if not await materialize_chunk(session, campaign_id=campaign_id):
                        break
    finally:
        await database.dispose()


def materialize(db_url: str, campaign_ids: list[int]) -> None:
    asyncio.run(_materialize(db_url, campaign_ids))
