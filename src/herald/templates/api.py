from __future__ import annotations

from fastapi import APIRouter, Query

from herald.auth.deps import CurrentPrincipal, WriterPrincipal
from herald.kit.deps import SecretBoxDep, SessionDep
from herald.kit.pagination import Page
from herald.models import Template
from herald.numbers import service as numbers_service
from herald.numbers.deps import CloudClientDep
from herald.templates import meta_events, service
from herald.templates.parsing import body_text
from herald.templates.schemas import TemplateEventOut, TemplateOut, TemplateSyncResult

router = APIRouter(tags=["templates"])


def template_out(template: Template) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        waba_id=template.waba_id,
        name=template.name,
        language=template.language,
        status=template.status,
        category=template.category,
        parameter_format=template.parameter_format,
        variables=list(template.variables or []),
        header_format=template.header_format,
        quick_reply_count=int(template.quick_reply_count or 0),
        usable=template.usable,
        reason=template.reason,
        body_text=body_text(template.components or []),
        synced_at=template.synced_at,
        removed_at=template.removed_at,
        quality_score=template.quality_score,
        status_updated_at=template.status_updated_at,
    )


@router.post("/whatsapp-numbers/{number_id}/sync-templates", response_model=TemplateSyncResult)
async def sync_templates(
    number_id: int, session: SessionDep, box: SecretBoxDep, client: CloudClientDep, principal: WriterPrincipal
) -> TemplateSyncResult:
    creds = await numbers_service.credentials_for(session, box, org_id=principal.org_id, number_id=number_id)
    await session.commit()  # no transaction (on SQLite, no write lock) held while WhatsApp pages through them
    facts = await service.fetch_templates(client, creds)
    return await service.store_templates(
        session, org_id=principal.org_id, number_id=number_id, waba_id=creds.waba_id, facts=facts
    )


@router.get("/templates", response_model=Page[TemplateOut])
async def list_templates(
    session: SessionDep,
    principal: CurrentPrincipal,
    whatsapp_number_id: int | None = None,
    usable: bool | None = None,
    include_removed: bool = Query(False, description="Also list templates no longer in the WABA."),
    limit: int = Query(100),
    cursor: str | None = None,
) -> Page[TemplateOut]:
    rows, next_cursor = await service.list_templates(
        session, org_id=principal.org_id, whatsapp_number_id=whatsapp_number_id, usable=usable,
        include_removed=include_removed, cursor=cursor, limit=limit,
    )
    return Page[TemplateOut](items=[template_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/templates/{template_id}", response_model=TemplateOut)
async def get_template(template_id: int, session: SessionDep, principal: CurrentPrincipal) -> TemplateOut:
    return template_out(await service.get_template(session, org_id=principal.org_id, template_id=template_id))


@router.get("/templates/{template_id}/events", response_model=list[TemplateEventOut])
async def template_events(template_id: int, session: SessionDep, principal: CurrentPrincipal) -> list[TemplateEventOut]:
    """What Meta's webhooks said about the template (status, quality, category), newest first (at most 200)."""
    await service.get_template(session, org_id=principal.org_id, template_id=template_id)
    rows = await meta_events.history(session, org_id=principal.org_id, template_id=template_id)
    return [TemplateEventOut.model_validate(row, from_attributes=True) for row in rows]
