"""Meta's template webhooks applied to Herald's templates at once, each kept in the template's history.

``message_template_status_update`` sets the status (and so whether Herald can send the template),
``message_template_quality_update`` the quality score, ``template_category_update`` the category
(or, for a change Meta announces, only the history). Every event becomes one ``TemplateEvent`` row
per template it names. What this means for the campaigns using a template is decided by the caller
(``herald.campaigns.template_effects``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.models import Template, TemplateEvent
from herald.templates.parsing import SENDABLE_STATUS, template_facts
from herald.whatsapp import TemplateCategoryUpdate, TemplateQualityUpdate, TemplateStatusUpdate

REASON_MAX = 500
_TEMPLATE_REASON_MAX = 300  # templates.reason
# Events that name a new status, and the status they mean. Other events (FLAGGED, LOCKED, UNLOCKED,
# LIMIT_EXCEEDED…) leave the status as it is and are only recorded.
STATUS_OF_EVENT = {
    "APPROVED": "APPROVED",
    "REINSTATED": "APPROVED",
    "UNARCHIVED": "APPROVED",
    "REJECTED": "REJECTED",
    "PAUSED": "PAUSED",
    "DISABLED": "DISABLED",
    "PENDING": "PENDING",
    "IN_APPEAL": "IN_APPEAL",
    "PENDING_DELETION": "PENDING_DELETION",
    "DELETED": "DELETED",
    "ARCHIVED": "ARCHIVED",
}


@dataclass(frozen=True, slots=True)
class Applied:
    """One template an event changed, and what changed."""

    template: Template
    was_status: str
    status: str
    reason: str | None  # Meta's words, for the campaigns' status reason
    at: datetime
    previous_category: str | None = None
    new_category: str | None = None
    was_quality: str | None = None  # a quality update: the template's quality score before

    @property
    def sendable(self) -> bool:
        return self.status == SENDABLE_STATUS

    @property
    def reinstated(self) -> bool:
        return self.sendable and self.was_status != SENDABLE_STATUS

    @property
    def recategorised(self) -> bool:
        return bool(self.previous_category and self.new_category and self.previous_category != self.new_category)


def meta_reason(update: TemplateStatusUpdate) -> str | None:
    """Meta's explanation: ``other_info`` (description and title) and ``reason`` unless NONE."""
    parts = []
    if update.description:
        parts.append(update.description)
    if update.title:
        parts.append(f"({update.title})")
    if update.reason and update.reason.upper() != "NONE":
        parts.append(f"reason: {update.reason}")
    return " ".join(parts)[:REASON_MAX] or None


async def _named(session: AsyncSession, *, org_id: int, waba_id: str, template_id: str | None,
                 name: str | None, language: str | None) -> list[Template]:
    """The organization's templates an event names: by name and language, else by Meta's id."""
    query = select(Template).where(Template.org_id == org_id, Template.waba_id == waba_id)
    if name and language:
        query = query.where(Template.name == name, Template.language == language)
    elif template_id:
        query = query.where(Template.meta_id == template_id)
    else:
        return []
    return list((await session.execute(query.order_by(Template.id))).scalars())


def _record(session: AsyncSession, template: Template, *, field: str, event: str, reason: str | None,
            detail: dict[str, object], at: datetime) -> None:
    session.add(TemplateEvent(
        org_id=template.org_id, template_id=template.id, field=field, event=event[:64], status=template.status,
        category=template.category, quality_score=template.quality_score,
        reason=reason[:REASON_MAX] if reason else None, detail=detail, occurred_at=at,
    ))


def set_status(template: Template, status: str, meta_said: str | None) -> None:
    """The new status, and whether the template can be sent (with why not, in Meta's words)."""
    facts = template_facts({"name": template.name, "language": template.language, "status": status,
                            "parameter_format": template.parameter_format, "components": template.components})
    template.status = facts.status
    if template.removed_at is None:
        template.usable = facts.usable
        reason = facts.reason
        if reason == f"status {facts.status}" and meta_said:
            reason = f"{reason}: {meta_said}"
        template.reason = reason[:_TEMPLATE_REASON_MAX] if reason else None


async def apply_status(session: AsyncSession, *, org_id: int, update: TemplateStatusUpdate,
                       received_at: datetime) -> list[Applied]:
    at = update.timestamp or received_at
    said = meta_reason(update)
    applied = []
    for template in await _named(session, org_id=org_id, waba_id=update.waba_id, template_id=update.template_id,
                                 name=update.template_name, language=update.template_language):
        was = template.status
        status = STATUS_OF_EVENT.get(update.event.upper())
        if status is not None:
            set_status(template, status, said)
            template.status_updated_at = at
        if update.category:
            template.category = update.category.upper()
        _record(session, template, field="message_template_status_update", event=update.event, reason=said,
                detail=update.value, at=at)
        applied.append(Applied(template=template, was_status=was, status=template.status, reason=said, at=at))
    await session.flush()
    return applied


async def apply_quality(session: AsyncSession, *, org_id: int, update: TemplateQualityUpdate,
                        received_at: datetime) -> list[Applied]:
    at = update.timestamp or received_at
    applied = []
    for template in await _named(session, org_id=org_id, waba_id=update.waba_id, template_id=update.template_id,
                                 name=update.template_name, language=update.template_language):
        was_quality = template.quality_score
        if update.new_quality_score:
            template.quality_score = update.new_quality_score.upper()[:16]
        event = f"{update.previous_quality_score or '?'} → {update.new_quality_score or '?'}"
        _record(session, template, field="message_template_quality_update", event=event, reason=None,
                detail=update.value, at=at)
        applied.append(Applied(template=template, was_status=template.status, status=template.status, reason=None,
                               at=at, was_quality=was_quality))
    await session.flush()
    return applied


async def apply_category(session: AsyncSession, *, org_id: int, update: TemplateCategoryUpdate,
                         received_at: datetime) -> list[Applied]:
    """A change done (previous → new) sets the category; one announced (correct category, from when)
    is only recorded: Meta applies it later and says so with another webhook."""
    at = update.timestamp or received_at
    announced = update.correct_category is not None and update.previous_category is None
    applied = []
    for template in await _named(session, org_id=org_id, waba_id=update.waba_id, template_id=update.template_id,
                                 name=update.template_name, language=update.template_language):
        previous = (update.previous_category or template.category or "").upper() or None
        if announced:
            when = f" on {update.category_update_at:%Y-%m-%d %H:%M} UTC" if update.category_update_at else ""
            event = f"{update.new_category or previous or '?'} → {update.correct_category} announced"
            reason = f"Meta will recategorise it as {update.correct_category}{when}"
            new = None
        else:
            new = (update.new_category or "").upper() or None
            event = f"{previous or '?'} → {new or '?'}"
            reason = None
            if new:
                template.category = new
        _record(session, template, field="template_category_update", event=event, reason=reason,
                detail=update.value, at=at)
        applied.append(Applied(template=template, was_status=template.status, status=template.status, reason=reason,
                               at=at, previous_category=None if announced else previous, new_category=new))
    await session.flush()
    return applied


async def history(session: AsyncSession, *, org_id: int, template_id: int, limit: int = 200) -> list[TemplateEvent]:
    """Newest first."""
    query = (
        select(TemplateEvent)
        .where(TemplateEvent.org_id == org_id, TemplateEvent.template_id == template_id)
        .order_by(TemplateEvent.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
