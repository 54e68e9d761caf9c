"""Audience segments over tags and valued tags, as SQL that walks the tag indexes.

A segment is ``{tags_any?: [..], tags_all?: [..], valued_tags?: [{key, value?}]}``; the clauses
given are ANDed. Contacts without tags can never match, since every clause requires one.

A follow-up's audience is its frozen snapshot (herald.campaigns.followups), narrowed by its segment
when it has one: snapshot AND segment.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.models import AudienceSnapshot, Contact, ContactTag, ContactValuedTag, Tag


def is_empty(audience: dict[str, Any] | None) -> bool:
    if not audience:
        return True
    return not (audience.get("tags_any") or audience.get("tags_all") or audience.get("valued_tags"))


async def resolve_tag_ids(session: AsyncSession, *, org_id: int, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    rows = await session.execute(select(Tag.name, Tag.id).where(Tag.org_id == org_id, Tag.name.in_(names)))
    return {name: tag_id for name, tag_id in rows}


def _has_tag(tag_ids: list[int]) -> ColumnElement[bool]:
    return exists().where(ContactTag.contact_id == Contact.id, ContactTag.tag_id.in_(tag_ids))


def _has_valued_tag(key: str, value: str | None) -> ColumnElement[bool]:
    clause = exists().where(ContactValuedTag.contact_id == Contact.id, ContactValuedTag.key == key)
    if value is not None:
        clause = exists().where(
            ContactValuedTag.contact_id == Contact.id, ContactValuedTag.key == key, ContactValuedTag.value == value
        )
    return clause


def in_snapshot(campaign_id: int) -> ColumnElement[bool]:
    """The contact is in the campaign's audience snapshot (on its primary key)."""
    return exists().where(AudienceSnapshot.campaign_id == campaign_id, AudienceSnapshot.contact_id == Contact.id)


async def segment_filter(
    session: AsyncSession, *, org_id: int, audience: dict[str, Any] | None, contact_ids: list[int] | None = None,
    snapshot_of: int | None = None,
) -> ColumnElement[bool]:
    """A WHERE clause on ``contacts`` selecting the audience (or the given test contacts).
    ``snapshot_of``: a follow-up's id; its snapshot is the audience, ANDed with the segment if any."""
    if contact_ids is not None:
        return and_(Contact.org_id == org_id, Contact.id.in_(contact_ids))
    if snapshot_of is not None:
        snapshot = and_(Contact.org_id == org_id, in_snapshot(snapshot_of))
        if is_empty(audience):
            return snapshot
        return and_(snapshot, await segment_filter(session, org_id=org_id, audience=audience))
    if is_empty(audience):
        return false()
    assert audience is not None
    tags_any = list(audience.get("tags_any") or [])
    tags_all = list(audience.get("tags_all") or [])
    ids = await resolve_tag_ids(session, org_id=org_id, names=tags_any + tags_all)
    clauses: list[ColumnElement[bool]] = [Contact.org_id == org_id]
    if tags_any:
        any_ids = [ids[n] for n in tags_any if n in ids]
        clauses.append(_has_tag(any_ids) if any_ids else false())
    for name in tags_all:
        clauses.append(_has_tag([ids[name]]) if name in ids else false())
    for valued in audience.get("valued_tags") or []:
        clauses.append(_has_valued_tag(valued["key"], valued.get("value")))
    return and_(*clauses)
