"""Status changes a user asks for: start, schedule, unschedule, pause, resume, end, send a test.

Each is one conditional UPDATE through ``lifecycle.transition``, so of two concurrent clicks exactly
one wins and the other gets a 409 with the status it lost to.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import ending, naming, readiness, repository
from herald.campaigns.bindings import NO_ELIGIBLE, Assessment, Draft, assess
from herald.campaigns.ending import release_ended
from herald.campaigns.launch import launch_campaign
from herald.campaigns.lifecycle import EDITABLE, Status, transition
from herald.campaigns.quality_pause import restart_window
from herald.campaigns.service import (
    DEFAULT_AUTO_END_HOURS,
    check_rate_per_hour,
    check_rate_per_second,
    get_campaign,
    not_editable,
)
from herald.contacts.e164 import to_e164
from herald.kit.errors import Conflict, Invalid
from herald.kit.types import as_utc, utcnow
from herald.models import Campaign, WhatsAppNumber
from herald.models.campaign import DEFAULT_RATE_PER_SECOND
from herald.pricing import budget

MAX_SCHEDULE_AHEAD = timedelta(days=365)
ENDED_BY_USER = "ended by user"
PAUSED_BY_USER = "paused by user"
TESTS_ENDED_BY_START = "ended: its campaign was started"
TESTS_ENDED_BY_SCHEDULE = "ended: its campaign was scheduled"
READY = frozenset({Status.ready})


async def start_campaign(
    session: AsyncSession, *, org_id: int, campaign_id: int, rate_per_second: float = DEFAULT_RATE_PER_SECOND
) -> Campaign:
    """ready → active now, paced at ``rate_per_second``; enqueues the audience materialisation.

    Its test campaigns end first, so the contacts they engage are part of its audience again.
    """
    campaign = await get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    from_states = READY
    if assessment := await _launchable(session, campaign):
        assert assessment.number is not None
        check_rate_per_second(rate_per_second, assessment.number)
        from_states = EDITABLE
    tests = await _close_tests(session, parent_id=campaign_id)
    await transition(
        session, campaign_id=campaign_id, org_id=org_id, to=Status.active, from_states=from_states,
        values={"started_at": utcnow(), "rate_per_second": rate_per_second, "rate_per_hour": None,
                "status_reason": None, "missing": []},
    )
    await launch_campaign(session, campaign_id=campaign_id)
    await _end_tests(session, org_id=org_id, tests=tests, reason=TESTS_ENDED_BY_START)
    return await get_campaign(session, org_id=org_id, campaign_id=campaign_id)


async def schedule_campaign(
    session: AsyncSession, *, org_id: int, campaign_id: int, start_at: datetime, rate_per_hour: int
) -> Campaign:
    """ready → scheduled; the engine starts it at ``start_at``, paced at ``rate_per_hour``. Its test
    campaigns end now, as on a start: their contacts would otherwise stay engaged until it starts."""
    campaign = await get_campaign(session, org_id=org_id, campaign_id=campaign_id)  # 404 first: not ours
    if start_at.tzinfo is None:
        raise Invalid("start_at needs a UTC offset, e.g. 2025-06-01T09:00:00+02:00", field="start_at")
    utc, now = as_utc(start_at), utcnow()
    if utc is not None and utc <= now:
        raise Invalid("start_at is in the past", field="start_at")
    if utc is None or utc > now + MAX_SCHEDULE_AHEAD:
        raise Invalid("start_at must be within a year from now", field="start_at")
    from_states = READY
    if assessment := await _launchable(session, campaign):
        assert assessment.number is not None
        check_rate_per_hour(rate_per_hour, assessment.number)
        from_states = EDITABLE
    tests = await _close_tests(session, parent_id=campaign_id)
    await transition(
        session, campaign_id=campaign_id, org_id=org_id, to=Status.scheduled, from_states=from_states,
        values={"start_at": utc, "rate_per_hour": rate_per_hour, "rate_per_second": None, "missing": []},
    )
    await _end_tests(session, org_id=org_id, tests=tests, reason=TESTS_ENDED_BY_SCHEDULE)
    return await get_campaign(session, org_id=org_id, campaign_id=campaign_id)


async def unschedule_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> Campaign:
    await transition(
        session, campaign_id=campaign_id, org_id=org_id, to=Status.ready,
        from_states=frozenset({Status.scheduled}), values={"start_at": None},
    )
    return await get_campaign(session, org_id=org_id, campaign_id=campaign_id)


async def pause_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> Campaign:
    await transition(
        session, campaign_id=campaign_id, org_id=org_id, to=Status.paused,
        from_states=frozenset({Status.active}), values={"status_reason": PAUSED_BY_USER},
    )
    return await get_campaign(session, org_id=org_id, campaign_id=campaign_id)


async def resume_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> Campaign:
    """paused → active. Not relaunched: its messages are already materialised, claiming just restarts.

    Refused (422 on ``template``) while Meta keeps its template paused, disabled or otherwise unsendable,
    and (422 on ``budget``) while the forecast cost of what it sent already reaches its budget.
    """
    campaign = await get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    if campaign.status == Status.paused:
        await _check_template_sendable(session, campaign)
        if budget.is_spent(budget=campaign.budget, committed=campaign.committed_cost or 0.0):
            raise Invalid(
                f"the campaign's budget ({campaign.budget:g}) is spent: raise it (or remove it) to resume, or end the campaign",
                field="budget", code="budget_reached",
            )
    await transition(
        session, campaign_id=campaign_id, org_id=org_id, to=Status.active,
        from_states=frozenset({Status.paused}), values={"status_reason": None},
    )
    # The quality breaker judges the sends from here on (docs/quality.md, "Resuming").
    await restart_window(session, campaign_id=campaign_id)
    return await get_campaign(session, org_id=org_id, campaign_id=campaign_id)


async def end_campaign(
    session: AsyncSession, *, org_id: int, campaign_id: int, reason: str = ENDED_BY_USER
) -> Campaign:
    """active/paused/scheduled → ended; releases engaged contacts and closes messages never sent."""
    await transition(
        session, campaign_id=campaign_id, org_id=org_id, to=Status.ended,
        values={"ended_at": utcnow(), "status_reason": reason},
    )
    await release_ended(session, campaign_id=campaign_id)
    return await get_campaign(session, org_id=org_id, campaign_id=campaign_id)


async def send_test(session: AsyncSession, *, org_id: int, campaign_id: int, phones: list[str]) -> Campaign:
    """A linked test campaign to the given contacts, launched at once (rule 3 still applies to testers)."""
    parent = await get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    if parent.status not in EDITABLE:
        raise not_editable(parent.status)
    assessment = await assess(session, org_id=org_id, draft=Draft.of(parent))
    assessment.raise_incomplete(ignore=frozenset({"audience", NO_ELIGIBLE}))
    assert assessment.number is not None
    contact_ids = await _test_contacts(session, org_id=org_id, phones=phones)
    draft = Draft.of(parent)
    draft.audience = None
    draft.holdout_percent = 0.0  # every tester receives the test (each its drawn variant)
    draft.name = naming.test_name(parent.name, utcnow())
    test = Campaign(
        org_id=org_id, kind="test", parent_id=parent.id, status=Status.ready.value, missing=[],
        test_contact_ids=contact_ids, auto_end_after_hours=DEFAULT_AUTO_END_HOURS["test"], **draft.columns(),
    )
    await repository.insert_campaign(session, test)
    rate = start_rate(assessment.number)
    await transition(
        session, campaign_id=test.id, org_id=org_id, to=Status.active, from_states=READY,
        values={"started_at": utcnow(), "rate_per_second": rate},
    )
    await launch_campaign(session, campaign_id=test.id)
    return await get_campaign(session, org_id=org_id, campaign_id=test.id)


def start_rate(number: WhatsAppNumber) -> float:
    """The pace of a start without one (the UI's Start now, a test): 20/s, or the number's throughput if lower."""
    return min(DEFAULT_RATE_PER_SECOND, float(number.throughput_mps))


async def _check_template_sendable(session: AsyncSession, campaign: Campaign) -> None:
    number = await repository.get_number(session, org_id=campaign.org_id, number_id=campaign.whatsapp_number_id or 0)
    name, language = campaign.template_name, campaign.template_language
    if number is None or not name or not language:
        return
    template = await repository.get_template(
        session, org_id=campaign.org_id, waba_id=number.waba_id, name=name, language=language
    )
    if template is None or not template.usable:
        why = template.reason if template is not None else "no longer among the number's synced templates"
        raise Invalid(
            f"template '{name}' ({language}) cannot be sent now: {why or 'not usable'}; resume once Meta reinstates it",
            field="template", code="template_unusable",
        )


async def _launchable(session: AsyncSession, campaign: Campaign) -> Assessment | None:
    """A draft or ready campaign re-checked now (Meta may have paused its template since it was saved,
    its audience may have emptied): 422 when incomplete, 409 when it has nobody to send to.

    None when it is not draft or ready, or a draft still incomplete: the transition then answers
    with the usual 409 naming its status. A draft that is complete now (its status is refreshed
    when shown) may start.
    """
    if campaign.status not in EDITABLE:
        return None
    assessment = await readiness.reassess(session, campaign)
    todo = set(assessment.missing_or_wrong())
    if campaign.status == Status.draft and todo - {NO_ELIGIBLE}:
        return None
    assessment.raise_incomplete(ignore=frozenset({NO_ELIGIBLE}))
    if readiness.is_nobody(assessment):
        raise await readiness.no_eligible(session, campaign)
    return assessment


async def _close_tests(session: AsyncSession, *, parent_id: int) -> dict[int, int]:
    """First step of ending the campaign's live tests: their messages never sent are closed (the
    ``campaign_messages`` rows come first in the lock order of ``counters``). Returns test id → closed."""
    return {test_id: await ending.close_pending(session, campaign_id=test_id)
            for test_id in await repository.live_test_ids(session, parent_id=parent_id)}


async def _end_tests(session: AsyncSession, *, org_id: int, tests: dict[int, int], reason: str) -> None:
    """Then, after the parent's row (a test's id is higher than its campaign's), each test's row and
    counters in id order, and last the engagements: its contacts are free for the campaign."""
    ended = []
    for test_id, closed in sorted(tests.items()):
        try:
            await transition(session, campaign_id=test_id, org_id=org_id, to=Status.ended,
                             values={"ended_at": utcnow(), "status_reason": reason})
        except Conflict:
            continue  # ended meanwhile (its auto-end): that transaction released it
        await ending.count_closed(session, campaign_id=test_id, closed=closed)
        ended.append(test_id)
    await ending.release_engagements(session, campaign_ids=ended)


async def _test_contacts(session: AsyncSession, *, org_id: int, phones: list[str]) -> list[int]:
    """The contact ids of the phones, in order, each once; a 422 naming every phone that is not one."""
    normalised = [to_e164(raw) for raw in phones]
    found = await repository.contact_ids_by_phone(session, org_id=org_id, phones=[p for p in normalised if p])
    errors = []
    for index, (raw, phone) in enumerate(zip(phones, normalised, strict=True)):
        if phone is None:
            errors.append({"field": f"phones.{index}", "message": f"'{raw}' is not a valid phone number"})
        elif phone not in found:
            errors.append({"field": f"phones.{index}", "message": f"{phone} is not a contact: add it first"})
    if errors:
        raise Invalid(errors[0]["message"], details=errors)
    return list(dict.fromkeys(found[p] for p in normalised if p))

