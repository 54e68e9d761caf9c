"""Template sync and the checks campaigns rely on. Services flush, never commit.

WhatsApp is asked with no transaction open (see `herald.numbers.service`): the caller reads the
credentials, commits, runs `fetch_templates`, then `store_templates` in a new transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.errors import Invalid, NotFound
from herald.kit.pagination import clamp_limit, decode_cursor, encode_cursor
from herald.kit.types import utcnow
from herald.models import Template
from herald.numbers import service as numbers_service
from herald.numbers.errors import WhatsAppCallFailed
from herald.templates import meta_events, repository
from herald.templates.parsing import TemplateFacts, template_facts
from herald.templates.schemas import RemovedTemplate, TemplateSyncResult, UnusableTemplate
from herald.whatsapp import CloudAPIClient, NumberCredentials, WhatsAppError

REMOVED_REASON = "no longer in the WhatsApp Business Account"
TEMPLATE_PAGE_SIZE = 100
_REASON_MAX = 300




async def fetch_templates(client: CloudAPIClient, creds: NumberCredentials) -> list[TemplateFacts]:
    """Every template of the number's WABA, read from WhatsApp; call it with no transaction open."""
    try:
        raw = await client.list_templates(creds, page_size=TEMPLATE_PAGE_SIZE)
    except WhatsAppError as exc:
        raise WhatsAppCallFailed.wrap("listing the templates", creds.graph_api_base, exc) from exc
    return _distinct(template_facts(item) for item in raw)


async def store_templates(
    session: AsyncSession, *, org_id: int, number_id: int, waba_id: str, facts: list[TemplateFacts]
) -> TemplateSyncResult:
    """Upsert the templates listed from WABA `waba_id`; mark the ones that disappeared.

    A number deleted meanwhile is `NotFound`. The templates are kept under the WABA they were listed
    from even if the number has moved to another one since: they are that WABA's templates.
    """
    await numbers_service.get_current_number(session, org_id=org_id, number_id=number_id)
    synced_at = utcnow()
    await repository.upsert(session, [_row(f, org_id=org_id, waba_id=waba_id, at=synced_at) for f in facts])
    gone = await repository.missing_since(session, org_id=org_id, waba_id=waba_id, synced_before=synced_at)
    await repository.mark_removed(
        session, org_id=org_id, template_ids=[t.id for t in gone], at=synced_at, reason=REMOVED_REASON
    )
    unusable = [UnusableTemplate(name=f.name, language=f.language, reason=f.reason or "") for f in facts if not f.usable]
    return TemplateSyncResult(
        synced=len(facts),
        usable=len(facts) - len(unusable),
        unusable=unusable,
        removed=[RemovedTemplate(name=t.name, language=t.language) for t in gone],
    )


def _distinct(facts: Any) -> list[TemplateFacts]:
    # Keyed like the table; a malformed item without name or language cannot be stored or sent.
    by_key = {(f.name, f.language): f for f in facts if f.name and f.language}
    return list(by_key.values())


def _row(facts: TemplateFacts, *, org_id: int, waba_id: str, at: Any) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "waba_id": waba_id,
        "name": facts.name,
        "language": facts.language,
        "meta_id": facts.meta_id,
        "status": facts.status,
        "category": facts.category,
        "parameter_format": facts.parameter_format,
        "components": facts.components,
        "variables": facts.variables,
        "header_format": facts.header_format,
        "quick_reply_count": facts.quick_reply_count,
        "usable": facts.usable,
        "reason": facts.reason[:_REASON_MAX] if facts.reason else None,
        "synced_at": at,
        "removed_at": None,
    }


async def list_templates(
    session: AsyncSession,
    *,
    org_id: int,
    whatsapp_number_id: int | None,
    usable: bool | None,
    include_removed: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[Template], str | None]:
    limit = clamp_limit(limit)
    waba_id = None
    if whatsapp_number_id is not None:
        number = await numbers_service.get_number(session, org_id=org_id, number_id=whatsapp_number_id)
        waba_id = number.waba_id
    rows = await repository.list_page(
        session, org_id=org_id, waba_id=waba_id, usable=usable, include_removed=include_removed,
        after_id=decode_cursor(cursor), limit=limit + 1,
    )
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def get_template(session: AsyncSession, *, org_id: int, template_id: int) -> Template:
    template = await repository.get(session, org_id=org_id, template_id=template_id)
    if template is None:
        raise NotFound("no such template in this organization", code="template_not_found")
    return template


async def get_usable_template(
    session: AsyncSession, *, org_id: int, waba_id: str, name: str, language: str
) -> Template:
    """The template a campaign will send, or an `Invalid` on field `template` saying why it cannot."""
    template = await repository.by_key(session, org_id=org_id, waba_id=waba_id, name=name, language=language)
    if template is None:
        raise Invalid(
            f"template '{name}' in {language} is not known for this number's WhatsApp Business Account; "
            "sync the templates first",
            field="template",
            code="template_not_found",
        )
    if template.removed_at is not None or not template.usable:
        raise Invalid(
            f"template '{name}' in {language} cannot be used: {template.reason or 'not usable'}",
            field="template",
            code="template_unusable",
        )
    return template


async def apply_template_status(session: AsyncSession, *, waba_id: str, name: str, language: str, status: str) -> int:
    """A template's new status across organizations, usability recomputed (the webhook path, with
    history and campaigns, is ``herald.webhooks.template_updates``). Returns rows changed."""
    changed = 0
    for template in await repository.by_waba_name_language(session, waba_id=waba_id, name=name, language=language):
        meta_events.set_status(template, status, None)
        changed += 1
    await session.flush()
    return changed
