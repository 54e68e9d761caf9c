"""Organizations and contact snapshots for property tests that touch the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from herald.kit.db import Database
from herald.models import Contact, ContactTag, ContactValuedTag, Organization, Tag


async def new_org(database: Database) -> int:
    """A fresh organization, so each generated example starts from nothing."""
    async with database.session() as session:
        org = Organization(name=f"Prop {uuid.uuid4().hex[:8]}", slug=f"prop-{uuid.uuid4().hex[:12]}")
        session.add(org)
        await session.flush()
        return org.id


@dataclass
class StoredContact:
    id: int
    name: str | None
    tags: set[str] = field(default_factory=set)
    valued_tags: dict[str, str] = field(default_factory=dict)


async def stored_contacts(database: Database, org_id: int) -> dict[str, StoredContact]:
    """Every contact of the organization by phone, with its tags and valued tags."""
    async with database.read_session() as session:
        contacts = {
            phone: StoredContact(id=contact_id, name=name)
            for contact_id, phone, name in (
                await session.execute(select(Contact.id, Contact.phone, Contact.name).where(Contact.org_id == org_id))
            )
        }
        by_id = {c.id: c for c in contacts.values()}
        tags = await session.execute(
            select(ContactTag.contact_id, Tag.name).join(Tag, Tag.id == ContactTag.tag_id).where(Tag.org_id == org_id)
        )
        for contact_id, tag in tags:
            by_id[contact_id].tags.add(tag)
        valued = await session.execute(
            select(ContactValuedTag.contact_id, ContactValuedTag.key, ContactValuedTag.value)
            .where(ContactValuedTag.org_id == org_id)
        )
        for contact_id, key, value in valued:
            by_id[contact_id].valued_tags[key] = value
    return contacts
