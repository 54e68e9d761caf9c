"""What a change Meta made to a template means for the campaigns that send it.

- Paused, disabled or otherwise not sendable: its active campaigns are paused with Meta's reason
  (``lifecycle.transition``, as the engine pauses on a refused send); the sender stops at its next
  refresh, since it only sends for active campaigns.
- Sendable again (approved, reinstated, unpaused): the campaigns it paused say so and can be
  resumed; those with ``auto_resume`` resume by themselves.
- Recategorised (e.g. UTILITY → MARKETING, a dearer category with marketing's rules): its active
  campaigns are paused, since they were started for the category it had; a user resumes them.

A campaign paused for its template is recognised by its status reason (every other pause or resume
writes its own), including the engine's pause when WhatsApp refused a send for the template.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.lifecycle import Status, transition
from herald.kit.errors import Conflict
from herald.models import Campaign, WhatsAppNumber
from herald.whatsapp import reason_for_code

log = logging.getLogger("herald.campaigns")

REASON_MAX = 500  # campaigns.status_reason
UNUSABLE = "template unusable: "
REINSTATED = "template reinstated: can be resumed"
RECATEGORISED = "template recategorised: "
AUTO_RESUMED = "resumed automatically: "
# The engine's pause when WhatsApp refused a send because of the template (dispatch/retry_policy.py).
_ENGINE_REASONS = tuple(reason_for_code(code) for code in (132001, 132015, 132016))


@dataclass(frozen=True, slots=True)
class TemplateKey:
    """A template as campaigns name it: the organization's, of a WABA, by name and language."""

    org_id: int
    waba_id: str
    name: str
    language: str


def _label(name: str, language: str) -> str:
    return f"'{name}' ({language})"


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def unusable_reason(name: str, language: str, status: str, at: datetime, meta_said: str | None) -> str:
    text = f"{UNUSABLE}{_label(name, language)} is {status} at Meta since {_when(at)}"
    return (f"{text}: {meta_said}" if meta_said else text)[:REASON_MAX]


def reinstated_reason(name: str, language: str, at: datetime) -> str:
    return f"{REINSTATED} ({_label(name, language)} is APPROVED again since {_when(at)})"[:REASON_MAX]


def recategorised_reason(name: str, language: str, previous: str, new: str, at: datetime) -> str:
    return (f"{RECATEGORISED}{_label(name, language)} is {new} since {_when(at)}, it was {previous} when the "
            f"campaign started; resume to send it as {new}")[:REASON_MAX]


def _paused_for_template() -> object:
    reason = Campaign.status_reason
    return and_(
        Campaign.status == Status.paused.value,
        or_(reason.startswith(UNUSABLE, autoescape=True), reason.startswith(REINSTATED, autoescape=True),
            *[reason.startswith(text, autoescape=True) for text in _ENGINE_REASONS]),
    )


async def _campaigns(session: AsyncSession, key: TemplateKey, where: object) -> list[tuple[int, bool]]:
    """(id, auto_resume) of the organization's campaigns sending this template from a number of this WABA."""
    query = (
        select(Campaign.id, Campaign.auto_resume)
        .join(WhatsAppNumber, WhatsAppNumber.id == Campaign.whatsapp_number_id)
        .where(Campaign.org_id == key.org_id, WhatsAppNumber.waba_id == key.waba_id,
               Campaign.template_name == key.name, Campaign.template_language == key.language,
               where)  # type: ignore[arg-type]
        .order_by(Campaign.id)
    )
    return [(row[0], bool(row[1])) for row in (await session.execute(query)).all()]


async def _pause_active(session: AsyncSession, campaign_ids: list[int], reason: str) -> list[int]:
    paused = []
    for campaign_id in campaign_ids:
        try:
            await transition(session, campaign_id=campaign_id, to=Status.paused,
                             from_states=frozenset({Status.active}), values={"status_reason": reason})
        except Conflict:
            continue  # paused or ended meanwhile
        log.warning("campaign %s paused: %s", campaign_id, reason)
        paused.append(campaign_id)
    return paused


async def _set_reason(session: AsyncSession, campaign_ids: list[int], reason: str) -> None:
    if campaign_ids:
        await session.execute(
            update(Campaign).where(Campaign.id.in_(campaign_ids), _paused_for_template())  # type: ignore[arg-type]
            .values(status_reason=reason).execution_options(synchronize_session=False)
        )


async def template_unusable(session: AsyncSession, key: TemplateKey, *, reason: str) -> list[int]:
    """Pauses the active campaigns sending it; those already paused for it get the new reason. Returns the paused."""
    active = await _campaigns(session, key, Campaign.status == Status.active.value)
    paused = await _pause_active(session, [c for c, _ in active], reason)
    waiting = await _campaigns(session, key, _paused_for_template())
    await _set_reason(session, [c for c, _ in waiting if c not in paused], reason)
    return paused


async def template_reinstated(session: AsyncSession, key: TemplateKey, *, at: datetime) -> list[int]:
    """Campaigns it paused resume (``auto_resume``) or say they can be; returns the ones resumed."""
    name, language = key.name, key.language
    waiting = await _campaigns(session, key, _paused_for_template())
    resumed = []
    for campaign_id, auto in waiting:
        if not auto:
            continue
        try:
            await transition(session, campaign_id=campaign_id, to=Status.active,
                             from_states=frozenset({Status.paused}),
                             values={"status_reason": f"{AUTO_RESUMED}{reinstated_reason(name, language, at)}"[
                                 :REASON_MAX]})
        except Conflict:
            continue
        log.info("campaign %s resumed: template %s reinstated", campaign_id, _label(name, language))
        resumed.append(campaign_id)
    await _set_reason(session, [c for c, _ in waiting if c not in resumed], reinstated_reason(name, language, at))
    return resumed


async def template_recategorised(session: AsyncSession, key: TemplateKey, *, reason: str) -> list[int]:
    """Pauses the active campaigns sending it; returns them."""
    active = await _campaigns(session, key, Campaign.status == Status.active.value)
    return await _pause_active(session, [c for c, _ in active], reason)
