"""Every query of the campaigns domain. Lookups of numbers, templates, media, bot flows and contacts
read the models directly so this module does not depend on those domains' services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from herald.campaigns.followup_outcomes import BUTTON_TYPES, button_key, interactive_key
from herald.campaigns.lifecycle import LIVE, Status
from herald.models import (
    AudienceSnapshot,
    BotFlow,
    Campaign,
    CampaignMessage,
    Contact,
    ContactValuedTag,
    Engagement,
    FunnelEvent,
    InboundMessage,
    InboxCase,
    Media,
    Template,
    WhatsAppNumber,
)


async def get_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> Campaign | None:
    # populate_existing: a transition is a Core UPDATE, so the identity map may hold a stale row.
    stmt = (
        select(Campaign)
        .where(Campaign.id == campaign_id, Campaign.org_id == org_id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_campaigns(
    session: AsyncSession, *, org_id: int, kind: str | None, status: str | None, before_id: int, limit: int
) -> Sequence[Campaign]:
    """Newest first, keyset on id (``before_id`` 0 = from the newest)."""
    stmt = select(Campaign).where(Campaign.org_id == org_id)
    if kind is not None:
        stmt = stmt.where(Campaign.kind == kind)
    if status is not None:
        stmt = stmt.where(Campaign.status == status)
    if before_id:
        stmt = stmt.where(Campaign.id < before_id)
    stmt = stmt.order_by(Campaign.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def insert_campaign(session: AsyncSession, campaign: Campaign) -> Campaign:
    session.add(campaign)
    await session.flush()
    return campaign


async def delete_campaign(
    session: AsyncSession, *, org_id: int, campaign_id: int, statuses: frozenset[Status]
) -> bool:
    """Deletes the campaign if it is in one of ``statuses``: its messages here (they have no foreign
    key, see ``CampaignMessage``), its other rows through FK cascades, all in the caller's transaction
    (which the caller rolls back when this returns False).

    The messages go first, then the campaign row and (cascading) its counters: the lock order of
    herald.campaigns.counters, which the webhook applier also follows on an ended campaign's messages.
    """
    deletable = (Campaign.id == campaign_id) & (Campaign.org_id == org_id) & Campaign.status.in_(
        [s.value for s in statuses])
    await session.execute(
        delete(CampaignMessage)
        .where(CampaignMessage.campaign_id == campaign_id, select(Campaign.id).where(deletable).exists())
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(delete(Campaign).where(deletable).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    # Its follow-ups keep their snapshot and lose the link (``parent_campaign_id`` has no foreign key).
    await session.execute(
        update(Campaign).where(Campaign.parent_campaign_id == campaign_id, Campaign.org_id == org_id)
        .values(parent_campaign_id=None).execution_options(synchronize_session=False)
    )
    return True


async def update_pace(
    session: AsyncSession, *, org_id: int, campaign_id: int, statuses: frozenset[Status], values: dict[str, Any]
) -> bool:
    """Changes the pace of a running campaign without touching its status (not a transition)."""
    stmt = (
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.org_id == org_id)
        .where(Campaign.status.in_([s.value for s in statuses]))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


async def get_number(session: AsyncSession, *, org_id: int, number_id: int) -> WhatsAppNumber | None:
    stmt = select(WhatsAppNumber).where(WhatsAppNumber.id == number_id, WhatsAppNumber.org_id == org_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_template(
    session: AsyncSession, *, org_id: int, waba_id: str, name: str, language: str
) -> Template | None:
    stmt = select(Template).where(
        Template.org_id == org_id,
        Template.waba_id == waba_id,
        Template.name == name,
        Template.language == language,
        Template.removed_at.is_(None),
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def template_on_other_waba(
    session: AsyncSession, *, org_id: int, waba_id: str, name: str, language: str
) -> bool:
    stmt = select(
        exists().where(
            Template.org_id == org_id,
            Template.waba_id != waba_id,
            Template.name == name,
            Template.language == language,
            Template.removed_at.is_(None),
        )
    )
    return bool((await session.execute(stmt)).scalar())


async def get_media(session: AsyncSession, *, org_id: int, media_id: int) -> Media | None:
    # Only the columns we check: the row also holds the file's bytes.
    stmt = select(Media).where(Media.id == media_id, Media.org_id == org_id)
    stmt = stmt.options(defer(Media.content, raiseload=True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def bot_flow_exists(session: AsyncSession, *, org_id: int, bot_flow_id: int) -> bool:
    stmt = select(exists().where(BotFlow.id == bot_flow_id, BotFlow.org_id == org_id))
    return bool((await session.execute(stmt)).scalar())


async def known_valued_tag_keys(session: AsyncSession, *, org_id: int, keys: list[str]) -> set[str]:
    """Those of ``keys`` that at least one contact of the organization carries (walks the org/key index)."""
    if not keys:
        return set()
    query = select(ContactValuedTag.key).where(ContactValuedTag.org_id == org_id, ContactValuedTag.key.in_(keys)).distinct()
    return set(await session.scalars(query))


async def contact_ids_by_phone(session: AsyncSession, *, org_id: int, phones: list[str]) -> dict[str, int]:
    stmt = select(Contact.phone, Contact.id).where(Contact.org_id == org_id, Contact.phone.in_(phones))
    return {phone: contact_id for phone, contact_id in (await session.execute(stmt)) if phone is not None}


FIRST_VALUED_TAG_RULE = 5


async def exclusion_counts_with_phones(
    session: AsyncSession,
    *,
    audience_filter: ColumnElement[bool],
    campaign_id: int | None,
    valued_tag_keys: list[str],
    over_cap: ColumnElement[bool] | None = None,
) -> tuple[dict[int, int], list[tuple[str | None, int]]]:
    """Counts the segment's contacts by the first rule that excludes each (0 = not excluded), and
    groups the eligible ones by the first five characters of their phone (``+`` and four digits: a
    calling code, or +1 and an area code), each group as one of its phones and its size: enough to
    tell each contact's country (``herald.pricing.forecast``) in the same one pass over the segment.

    Rule numbers: 1 opted out, 2 engaged in another campaign, 3 open case, 4 over the frequency cap
    (when ``over_cap`` is given: ``frequency_cap.over_cap``), 5+i valued tag ``valued_tag_keys[i]``
    missing. One CASE per contact, grouped, so the database does the counting; integer codes rather
    than texts because PostgreSQL cannot type a CASE of untyped text parameters.
    """
    rule = case(*_exclusions(campaign_id, valued_tag_keys, over_cap), else_=literal(0)).label("rule")
    per_contact = select(rule, func.substr(Contact.phone, 1, 5).label("prefix"), Contact.phone).where(
        audience_filter).subquery()
    stmt = select(per_contact.c.rule, per_contact.c.prefix, func.min(per_contact.c.phone), func.count()).group_by(
        per_contact.c.rule, per_contact.c.prefix)
    counts: dict[int, int] = {}
    groups: list[tuple[str | None, int]] = []
    for code, _, phone, count in await session.execute(stmt):
        counts[int(code)] = counts.get(int(code), 0) + int(count)
        if int(code) == 0:
            groups.append((phone, int(count)))
    return counts, groups


async def eligible_zone_groups(
    session: AsyncSession,
    *,
    audience_filter: ColumnElement[bool],
    campaign_id: int | None,
    valued_tag_keys: list[str],
    over_cap: ColumnElement[bool] | None,
    tag_key: str,
    prefix_chars: int,
) -> list[tuple[str | None, str | None, int]]:
    """The segment's eligible contacts grouped by their ``tag_key`` valued tag and their phone's first
    ``prefix_chars`` characters: (tag, a phone of the group, count). A send window's audience preview
    places each group in a zone once (``send_window_preview``), not each contact."""
    excluded = [condition for condition, _ in _exclusions(campaign_id, valued_tag_keys, over_cap)]
    tag = (
        select(ContactValuedTag.value)
        .where(ContactValuedTag.contact_id == Contact.id, ContactValuedTag.key == tag_key)
        .scalar_subquery()
    )
    per_contact = (
        select(tag.label("tag"), func.substr(Contact.phone, 1, prefix_chars).label("prefix"),
               Contact.phone.label("phone"))
        .where(audience_filter, *[~c for c in excluded])
        .subquery()
    )
    stmt = (
        select(per_contact.c.tag, func.min(per_contact.c.phone), func.count())
        .group_by(per_contact.c.tag, per_contact.c.prefix)
    )
    return [(t, phone, int(n)) for t, phone, n in (await session.execute(stmt))]


async def has_eligible(
    session: AsyncSession, *, audience_filter: ColumnElement[bool], campaign_id: int | None, valued_tag_keys: list[str]
) -> bool:
    """Whether one contact of the segment is excluded by no rule: stops at the first one found."""
    excluded = [condition for condition, _ in _exclusions(campaign_id, valued_tag_keys)]
    stmt = select(exists().where(audience_filter, *[~c for c in excluded]))
    return bool((await session.execute(stmt)).scalar())


def _exclusions(
    campaign_id: int | None, valued_tag_keys: list[str], over_cap: ColumnElement[bool] | None = None
) -> list[tuple[ColumnElement[bool], Any]]:
    """Each exclusion rule with its code, in the engine's order (see ``exclusion_counts_with_phones``).

    Engagements in the campaign itself or in its own test campaigns do not count: starting or
    scheduling the campaign ends its tests first (``transitions.end_tests``), which frees their contacts.
    """
    engaged = exists().where(Engagement.contact_id == Contact.id)
    if campaign_id is not None:
        own = select(Campaign.id).where(or_(Campaign.id == campaign_id, Campaign.parent_id == campaign_id))
        engaged = engaged.where(Engagement.campaign_id.not_in(own))
    open_case = exists().where(InboxCase.contact_id == Contact.id, InboxCase.status == "open")
    whens: list[tuple[ColumnElement[bool], Any]] = [
        (Contact.opted_out_at.is_not(None), literal(1)),
        (engaged, literal(2)),
        (open_case, literal(3)),
    ]
    if over_cap is not None:
        whens.append((over_cap, literal(4)))
    for index, key in enumerate(valued_tag_keys):
        # An empty value renders nothing, so the engine treats it as missing too.
        lacks = ~exists().where(
            ContactValuedTag.contact_id == Contact.id, ContactValuedTag.key == key, ContactValuedTag.value != ""
        )
        whens.append((lacks, literal(FIRST_VALUED_TAG_RULE + index)))
    return whens


async def live_test_ids(session: AsyncSession, *, parent_id: int) -> list[int]:
    """The campaign's test campaigns not ended yet, in id order (the lock order of ``counters``)."""
    stmt = (
        select(Campaign.id)
        .where(Campaign.parent_id == parent_id, Campaign.kind == "test", Campaign.status.in_([s.value for s in LIVE]))
        .order_by(Campaign.id)
    )
    return list((await session.execute(stmt)).scalars())


# Follow-ups (herald.campaigns.followups).


def _outcome_messages(parent_id: int, condition: ColumnElement[bool]):  # type: ignore[no-untyped-def]
    """The parent's messages with the outcome, joined to their contacts (deleted ones drop out)."""
    return (
        select(CampaignMessage.contact_id)
        .join(Contact, Contact.id == CampaignMessage.contact_id)
        .where(CampaignMessage.campaign_id == parent_id, condition)
    )


async def outcome_counts(session: AsyncSession, *, parent_id: int, conditions: list[ColumnElement[bool]]) -> list[int]:
    """Contacts of the parent with each outcome, in one pass over its messages."""
    if not conditions:
        return []
    sums = [func.coalesce(func.sum(case((condition, 1), else_=0)), 0) for condition in conditions]
    stmt = (
        select(*sums)
        .select_from(CampaignMessage)
        .join(Contact, Contact.id == CampaignMessage.contact_id)
        .where(CampaignMessage.campaign_id == parent_id)
    )
    return [int(n) for n in (await session.execute(stmt)).one()]


async def insert_snapshot(
    session: AsyncSession, *, campaign_id: int, parent_id: int, condition: ColumnElement[bool]
) -> int:
    """Freezes the parent's contacts with the outcome as the follow-up's audience, in one statement."""
    rows = _outcome_messages(parent_id, condition).add_columns(literal(campaign_id, BigInteger))
    stmt = insert(AudienceSnapshot).from_select(["contact_id", "campaign_id"], rows)
    result = await session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def snapshot_counts(session: AsyncSession, *, campaign_ids: list[int]) -> dict[int, int]:
    """Contacts in each campaign's snapshot now (deleted contacts have dropped out)."""
    if not campaign_ids:
        return {}
    stmt = (
        select(AudienceSnapshot.campaign_id, func.count())
        .where(AudienceSnapshot.campaign_id.in_(campaign_ids))
        .group_by(AudienceSnapshot.campaign_id)
    )
    counts = {int(c): int(n) for c, n in await session.execute(stmt)}
    return {campaign_id: counts.get(campaign_id, 0) for campaign_id in campaign_ids}


async def snapshot_page(
    session: AsyncSession, *, campaign_id: int, after: int, limit: int
) -> list[tuple[int, str | None, str | None, str | None]]:
    """(contact id, phone, name, WhatsApp user id) of the snapshot, in contact id order after ``after``."""
    stmt = (
        select(Contact.id, Contact.phone, Contact.name, Contact.wa_user_id)
        .join(AudienceSnapshot, AudienceSnapshot.contact_id == Contact.id)
        .where(AudienceSnapshot.campaign_id == campaign_id, AudienceSnapshot.contact_id > after)
        .order_by(AudienceSnapshot.contact_id)
        .limit(limit)
    )
    return [(int(i), p, n, u) for i, p, n, u in await session.execute(stmt)]


async def followups_of(session: AsyncSession, *, org_id: int, parent_id: int) -> Sequence[Campaign]:
    """The campaign's follow-ups, oldest first."""
    stmt = (
        select(Campaign)
        .where(Campaign.org_id == org_id, Campaign.parent_campaign_id == parent_id)
        .order_by(Campaign.id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def tapped_buttons(session: AsyncSession, *, campaign_id: int) -> list[tuple[str, str | None]]:
    """The buttons the campaign's contacts tapped, the most tapped first: (payload or id, its text)."""
    key = func.coalesce(button_key(), interactive_key(), InboundMessage.text)
    contacts = func.count(InboundMessage.contact_id.distinct())
    stmt = (
        select(key, func.max(InboundMessage.text))
        .where(InboundMessage.campaign_id == campaign_id, InboundMessage.type.in_(BUTTON_TYPES),
               InboundMessage.contact_id.is_not(None), key.is_not(None))
        .group_by(key)
        .order_by(contacts.desc(), key)
    )
    return [(str(k), t) for k, t in await session.execute(stmt)]


async def funnel_steps(session: AsyncSession, *, campaign_id: int) -> list[str]:
    """The campaign's bot funnel steps, the most reached first."""
    stmt = (
        select(FunnelEvent.step)
        .where(FunnelEvent.campaign_id == campaign_id)
        .group_by(FunnelEvent.step)
        .order_by(func.count().desc(), FunnelEvent.step)
    )
    return [str(step) for step in (await session.execute(stmt)).scalars()]
