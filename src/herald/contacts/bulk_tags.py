"""Adding and removing tags on many contacts at once: those picked, or every contact matching a
search (not only the page shown). Chunk by chunk in the caller's transaction; each chunk is one
SELECT of ids, then one INSERT … SELECT (add) and one DELETE (remove): never a statement per contact."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts import repository, upsert
from herald.contacts.repository import ContactFilter
from herald.contacts.rules import MAX_TAGS_PER_CONTACT, clean_tags
from herald.contacts.schemas import BulkTagsIn, BulkTagsOut
from herald.contacts.service import search_filter
from herald.kit.errors import Invalid

CHUNK = 1000  # ids per chunk: one IN (…) list, well under SQLite's bound-parameter limit


def scope_of(data: BulkTagsIn) -> tuple[ContactFilter, list[int] | None]:
    """The contacts a change is for: a search, or the ids picked (still only the organization's)."""
    if (data.contact_ids is None) == (data.search is None):
        raise Invalid("give exactly one of contact_ids and search", field="contact_ids")
    if data.search is not None:
        search = data.search
        return search_filter(search.q, search.tag, search.valued_tag), None
    return ContactFilter(), sorted(set(data.contact_ids or []))


async def count_matching(session: AsyncSession, *, org_id: int, data: BulkTagsIn) -> int:
    """How many contacts a bulk change would apply to (what the confirmation says)."""
    where, among = scope_of(data)
    if among is None:
        return await repository.count_contacts(session, org_id=org_id, where=where)
    return len(await repository.matching_ids(session, org_id=org_id, where=where, after_id=0,
                                             limit=len(among) or 1, among=among)) if among else 0


async def change_tags(session: AsyncSession, *, org_id: int, data: BulkTagsIn) -> BulkTagsOut:
    add, remove = clean_tags(data.add, field="add"), clean_tags(data.remove, field="remove")
    if not add and not remove:
        raise Invalid("give a tag to add or to remove", field="add")
    if both := set(add) & set(remove):
        raise Invalid(f"tag {sorted(both)[0]} is both added and removed", field="remove")
    where, among = scope_of(data)
    add_ids = list((await upsert.ensure_tags(session, org_id=org_id, names=add)).values()) if add else []
    remove_ids = await repository.tag_ids_by_name(session, org_id=org_id, names=remove) if remove else []
    matched = added = removed = skipped = 0
    after = 0
    while True:
        ids = await repository.matching_ids(session, org_id=org_id, where=where, after_id=after, limit=CHUNK,
                                            among=among)
        if not ids:
            break
        # Removed first, so a tag removed frees a place for a tag added within the 100 a contact holds.
        if remove_ids:
            removed += await repository.remove_tags_from(session, contact_ids=ids, tag_ids=remove_ids)
        if add_ids:
            skipped += await repository.count_over_tag_limit(
                session, contact_ids=ids, tag_ids=add_ids, max_tags=MAX_TAGS_PER_CONTACT)
            added += await repository.add_tags_to(
                session, contact_ids=ids, tag_ids=add_ids, max_tags=MAX_TAGS_PER_CONTACT)
        matched += len(ids)
        after = ids[-1]
        if among is not None and len(ids) < CHUNK:
            break
    return BulkTagsOut(matched=matched, added=added, removed=removed, skipped=skipped)
