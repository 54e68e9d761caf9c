"""Contacts, tags and valued tags: the rules. Services flush; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts import history, identity, repository, upsert
from herald.contacts.repository import ContactFilter
from herald.contacts.rules import (
    MAX_SEARCH_LENGTH,
    check_search,
    clean_tags,
    clean_valued_tags,
    counts_problem,
    normalize_phone,
    normalize_user_id,
    nul_problem,
    timezone_problem,
)
from herald.contacts.schemas import (
    ContactCreate,
    ContactOut,
    ContactPage,
    ContactUpdate,
    MergeNeededOut,
    TagCount,
    ValuedTagCount,
    ValuedTagValueCount,
)
from herald.events.outbox import NewEvent, record_events
from herald.events.types import EventType
from herald.kit.errors import Conflict, Invalid, NotFound
from herald.kit.pagination import clamp_limit, decode_cursor, encode_cursor
from herald.kit.types import utcnow
from herald.models import Contact


def _contact_out(contact: Contact, tags: list[str], valued_tags: dict[str, str],
                 merges: Sequence[history.MergeNeeded] = ()) -> ContactOut:
    return ContactOut(
        id=contact.id, phone=contact.phone, phone_raw=contact.phone_raw, wa_user_id=contact.wa_user_id,
        name=contact.name, tags=tags,
        valued_tags=valued_tags, timezone=contact.timezone, locale=contact.locale,
        opted_out=contact.opted_out_at is not None, opted_out_at=contact.opted_out_at,
        opted_out_reason=contact.opted_out_reason if contact.opted_out_at is not None else None,
        merge_needed=[MergeNeededOut(contact_id=m.contact_id, phone=m.phone, reason=m.reason, at=m.at) for m in merges],
        created_at=contact.created_at, updated_at=contact.updated_at,
    )


async def _outs(session: AsyncSession, contacts: Sequence[Contact]) -> list[ContactOut]:
    ids = [c.id for c in contacts]
    tags = await repository.tags_by_contact(session, contact_ids=ids)
    valued = await repository.valued_tags_by_contact(session, contact_ids=ids)
    merges = await history.merges_needed(session, contact_ids=ids)
    return [_contact_out(c, tags.get(c.id, []), valued.get(c.id, {}), merges.get(c.id, ())) for c in contacts]


async def _require(session: AsyncSession, *, org_id: int, contact_id: int) -> Contact:
    contact = await repository.contact_by_id(session, org_id=org_id, contact_id=contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id}", code="contact_not_found")
    return contact


def _clean_timezone(timezone: str | None) -> str | None:
    if timezone is None or not timezone.strip():
        return None
    if problem := timezone_problem(timezone.strip()):
        raise Invalid(problem, field="timezone")
    return timezone.strip()


def _clean_name(name: str | None) -> str | None:
    return (name or "").strip() or None


def _duplicate(phone: str | None, contact_id: int | None = None, *, user_id: str | None = None) -> Conflict:
    """409: another contact has this phone (or, when ``phone`` is None, this WhatsApp user id)."""
    field, value = ("phone", phone) if phone is not None else ("wa_user_id", user_id)
    details: dict[str, object] = {field: value}
    if contact_id:
        details["contact_id"] = contact_id
    return Conflict(f"a contact with {field} {value} already exists", code="contact_exists", details=details)


def _identity(phone: str | None, user_id: str | None) -> tuple[str | None, str | None]:
    """The E.164 phone and the user id given, at least one of them, or a 422."""
    e164 = normalize_phone(phone) if phone is not None else None
    user = normalize_user_id(user_id) if user_id is not None else None
    if e164 is None and user is None:
        raise Invalid("give a phone or a wa_user_id (a contact needs one of them)", field="phone")
    return e164, user


async def create_contact(
    session: AsyncSession, *, org_id: int, data: ContactCreate, upsert_by_phone: bool = False
) -> tuple[ContactOut, bool]:
    """Create a contact (409 on a known phone or user id), or upsert it by phone or user id; → (contact, created)."""
    _refuse_nul(data)
    phone, user_id = _identity(data.phone, data.wa_user_id)
    row = upsert.ContactRow(
        phone=phone,
        phone_raw=data.phone.strip() if data.phone is not None else None,
        wa_user_id=user_id,
        name=_clean_name(data.name),
        timezone=_clean_timezone(data.timezone),
        locale=(data.locale or "").strip() or None,
        tags=clean_tags(data.tags),
        valued_tags={k: v for k, v in clean_valued_tags(dict(data.valued_tags)).items() if v is not None},
    )
    if problem := counts_problem(len(row.tags), len(row.valued_tags)):
        raise Invalid(problem[1], field=problem[0])
    if upsert_by_phone:
        contact_id, created = await _upsert_one(session, org_id=org_id, row=row)
    else:
        contact_id, created = await _insert_one(session, org_id=org_id, row=row), True
    contact = await get_contact(session, org_id=org_id, contact_id=contact_id)
    # An upsert adds to the tags and valued tags the contact already had.
    _check_counts(contact, tags=bool(row.tags), valued_tags=bool(row.valued_tags))
    return contact, created


def _refuse_nul(data: ContactCreate | ContactUpdate) -> None:
    """Text with a NUL character, refused naming its field (PostgreSQL could not store it)."""
    texts: list[tuple[str, str | None]] = [("name", data.name), ("locale", data.locale), ("timezone", data.timezone)]
    texts += [("tags", tag) for tag in data.tags or []]
    texts += [("valued_tags", f"{key}{value or ''}") for key, value in (data.valued_tags or {}).items()]
    for field, text in texts:
        if text is not None and (problem := nul_problem(field, text)):
            raise Invalid(problem, field=field)


def _check_counts(contact: ContactOut, *, tags: bool, valued_tags: bool) -> None:
    """At most 100 tags and 100 valued tags once a change that adds some is made (the caller's
    transaction is rolled back with the 422). Other changes of a contact over the bounds (from
    before they existed) still go through."""
    problem = counts_problem(len(contact.tags) if tags else 0, len(contact.valued_tags) if valued_tags else 0)
    if problem:
        raise Invalid(problem[1], field=problem[0])


async def _upsert_one(session: AsyncSession, *, org_id: int, row: upsert.ContactRow) -> tuple[int, bool]:
    if row.wa_user_id is not None:
        upserted = await identity.upsert_identified(session, org_id=org_id, row=row)
        if isinstance(upserted, identity.IdentityConflict):
            raise Conflict(upserted.reason, code="contact_exists", details={"contact_id": upserted.contact_id})
    else:
        upserted = (await upsert.upsert_contact_rows(session, org_id=org_id, rows=[row]))[row.key]
    return upserted.id, upserted.created


async def _insert_one(session: AsyncSession, *, org_id: int, row: upsert.ContactRow) -> int:
    found = await identity.matching_contacts(session, org_id=org_id, phone=row.phone, user_id=row.wa_user_id)
    if found:
        contact_id, phone, _ = found[0]
        raise _duplicate(row.phone if phone == row.phone else None, contact_id, user_id=row.wa_user_id)
    contact = Contact(
        org_id=org_id, phone=row.phone, phone_raw=row.phone_raw, wa_user_id=row.wa_user_id, name=row.name,
        timezone=row.timezone, locale=row.locale,
    )
    try:
        async with session.begin_nested():
            session.add(contact)
    except IntegrityError as exc:  # a concurrent request created the same phone or user id first
        raise _duplicate(row.phone, user_id=row.wa_user_id) from exc
    tag_ids = await upsert.ensure_tags(session, org_id=org_id, names=row.tags)
    await upsert.add_contact_tags(session, pairs={(contact.id, tag_ids[t]) for t in row.tags})
    await upsert.set_valued_tags(
        session, org_id=org_id, values=[(contact.id, k, v) for k, v in row.valued_tags.items()]
    )
    return contact.id


async def get_contact(session: AsyncSession, *, org_id: int, contact_id: int) -> ContactOut:
    contact = await _require(session, org_id=org_id, contact_id=contact_id)
    # The row may have been written by a Core statement since the session first loaded it.
    await session.refresh(contact)
    return (await _outs(session, [contact]))[0]


async def find_contact(
    session: AsyncSession, *, org_id: int, contact_id: int | None = None, phone: str | None = None
) -> Contact:
    """The organization's contact by id or by phone (any form ``normalize_phone`` accepts)."""
    if contact_id is not None:
        return await _require(session, org_id=org_id, contact_id=contact_id)
    if phone is None:
        raise Invalid("give a phone or a contact_id", field="phone")
    e164 = normalize_phone(phone)
    contact = await repository.contact_by_phone(session, org_id=org_id, phone=e164)
    if contact is None:
        raise NotFound(f"no contact with phone {e164}", code="contact_not_found")
    return contact


def parse_valued_tag_filter(spec: str) -> tuple[str, str | None]:
    """``KEY`` (has the key) or ``KEY=VALUE`` (has exactly that value)."""
    key, sep, value = spec.partition("=")
    if not key.strip():
        raise Invalid("valued_tag filter needs a key: KEY or KEY=VALUE", field="valued_tag")
    return key.strip(), (value if sep else None)


def search_filter(q: str | None, tags: Sequence[str] = (), valued_tags: Sequence[str] = ()) -> ContactFilter:
    """A contact search as ``GET /contacts`` reads it: checked, then every condition must hold."""
    check_search(q, tags, valued_tags)
    return ContactFilter(
        tags=[t.strip() for t in tags if t.strip()],
        valued_tags=[parse_valued_tag_filter(v) for v in valued_tags],
        q=(q or "").strip() or None,
    )


async def list_contacts(
    session: AsyncSession,
    *,
    org_id: int,
    tags: Sequence[str] = (),
    valued_tags: Sequence[str] = (),
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    before: str | None = None,
    with_total: bool = False,
) -> ContactPage:
    """A page in id order: after ``cursor``, or the page just before ``before`` (a previous page)."""
    where = search_filter(q, tags, valued_tags)
    limit = clamp_limit(limit)
    if before:
        rows = await repository.list_contacts_before(
            session, org_id=org_id, where=where, before_id=decode_cursor(before), limit=limit + 1
        )
        has_prev, rows = len(rows) > limit, rows[:limit][::-1]
        has_next = True  # the contact ``before`` names, or those after it
    else:
        rows = await repository.list_contacts(
            session, org_id=org_id, where=where, after_id=decode_cursor(cursor), limit=limit + 1
        )
        has_next, rows = len(rows) > limit, rows[:limit]
        has_prev = bool(cursor) and bool(rows) and await repository.any_contact_before(
            session, org_id=org_id, where=where, before_id=rows[0].id
        )
    total = await repository.count_contacts(session, org_id=org_id, where=where) if with_total else None
    return ContactPage(
        items=await _outs(session, rows),
        next_cursor=encode_cursor(rows[-1].id) if has_next and rows else None,
        prev_cursor=encode_cursor(rows[0].id) if has_prev else None,
        total=total,
    )


async def update_contact(
    session: AsyncSession, *, org_id: int, contact_id: int, data: ContactUpdate
) -> ContactOut:
    contact = await _require(session, org_id=org_id, contact_id=contact_id)
    _refuse_nul(data)
    given = data.model_fields_set
    # The look-ups must not flush a half-made change (no phone and no user id yet: the check refuses it).
    with session.no_autoflush:
        if "wa_user_id" in given:
            await _change_user_id(session, contact, data.wa_user_id)
        if "phone" in given:
            await _change_phone(session, contact, data.phone)
    if contact.phone is None and contact.wa_user_id is None:
        field = "phone" if "phone" in given else "wa_user_id"
        raise Invalid("a contact needs a phone or a wa_user_id: it cannot lose both", field=field)
    if "name" in given:
        contact.name = _clean_name(data.name)
    if "timezone" in given:
        contact.timezone = _clean_timezone(data.timezone)
    if "locale" in given:
        contact.locale = (data.locale or "").strip() or None
    opted_out_now = "opted_out" in given and data.opted_out is not None and _set_opted_out(contact, data.opted_out)
    if "tags" in given:
        tags = clean_tags(data.tags or [])
        if problem := counts_problem(len(tags), 0):
            raise Invalid(problem[1], field=problem[0])
        await _replace_tags(session, org_id=org_id, contact_id=contact.id, tags=tags)
    if data.valued_tags:
        await _merge_valued_tags(session, org_id=org_id, contact_id=contact.id, changes=data.valued_tags)
    contact.updated_at = utcnow()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent request took the new phone or user id first
        raise _duplicate(contact.phone, user_id=contact.wa_user_id) from exc
    if opted_out_now:
        await record_events(session, [NewEvent(org_id, EventType.contact_opted_out, {
            "contact_id": contact.id, "reason": contact.opted_out_reason}, contact.opted_out_at)])
    updated = await get_contact(session, org_id=org_id, contact_id=contact.id)
    _check_counts(updated, tags=False, valued_tags=bool(data.valued_tags))  # merged into those it had
    return updated


async def _change_user_id(session: AsyncSession, contact: Contact, raw: str | None) -> None:
    if raw is None:
        contact.wa_user_id = None
        return
    user_id = normalize_user_id(raw)
    if user_id == contact.wa_user_id:
        return
    if (other := await repository.contact_by_user_id(session, org_id=contact.org_id, user_id=user_id)) is not None:
        raise _duplicate(None, other.id, user_id=user_id)
    contact.wa_user_id = user_id


async def _change_phone(session: AsyncSession, contact: Contact, raw: str | None) -> None:
    if raw is None:  # a username contact: the user id stays (checked by the caller)
        contact.phone, contact.phone_raw = None, None
        return
    phone = normalize_phone(raw)
    if phone == contact.phone:
        return
    if (other := await repository.contact_by_phone(session, org_id=contact.org_id, phone=phone)) is not None:
        raise _duplicate(phone, other.id)
    contact.phone, contact.phone_raw = phone, raw.strip()


def _set_opted_out(contact: Contact, opted_out: bool) -> bool:
    """True when this opts the contact out (it was not before)."""
    if not opted_out:
        contact.opted_out_at = contact.opted_out_reason = None
    elif contact.opted_out_at is None:
        contact.opted_out_at, contact.opted_out_reason = utcnow(), "set in Herald"
        return True
    return False


async def _replace_tags(session: AsyncSession, *, org_id: int, contact_id: int, tags: list[str]) -> None:
    tag_ids = await upsert.ensure_tags(session, org_id=org_id, names=tags)
    await repository.detach_tags_except(session, contact_id=contact_id, keep_tag_ids=tag_ids.values())
    await upsert.add_contact_tags(session, pairs={(contact_id, tag_id) for tag_id in tag_ids.values()})


async def _merge_valued_tags(
    session: AsyncSession, *, org_id: int, contact_id: int, changes: dict[str, str | None]
) -> None:
    cleaned = clean_valued_tags(changes)
    await repository.delete_valued_tags(
        session, contact_id=contact_id, keys=[k for k, v in cleaned.items() if v is None]
    )
    await upsert.set_valued_tags(
        session, org_id=org_id, values=[(contact_id, k, v) for k, v in cleaned.items() if v is not None]
    )


async def delete_contact(session: AsyncSession, *, org_id: int, contact_id: int) -> None:
    if not await repository.delete_contact(session, org_id=org_id, contact_id=contact_id):
        raise NotFound(f"no contact {contact_id}", code="contact_not_found")


async def list_tags(session: AsyncSession, *, org_id: int) -> list[TagCount]:
    return [TagCount(name=n, contacts=c) for n, c in await repository.tag_counts(session, org_id=org_id)]


async def list_valued_tags(session: AsyncSession, *, org_id: int) -> list[ValuedTagCount]:
    rows = await repository.valued_tag_counts(session, org_id=org_id)
    return [ValuedTagCount(key=k, contacts=c) for k, c in rows]


MAX_VALUES_LISTED = 500


async def list_valued_tag_values(
    session: AsyncSession, *, org_id: int, key: str, prefix: str = "", limit: int = 100
) -> list[ValuedTagValueCount]:
    """The values contacts hold under ``key`` (those starting with ``prefix``), the most common first."""
    if len(prefix) > MAX_SEARCH_LENGTH:
        raise Invalid(f"q is longer than {MAX_SEARCH_LENGTH} characters", field="q")
    rows = await repository.valued_tag_value_counts(session, org_id=org_id, key=key, prefix=prefix,
                                                    limit=min(max(limit, 1), MAX_VALUES_LISTED))
    return [ValuedTagValueCount(value=v, contacts=c) for v, c in rows]
