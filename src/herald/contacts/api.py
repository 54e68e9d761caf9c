"""``/contacts``, ``/contacts/import``, ``/tags`` and ``/valued-tags``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import UploadFile

from herald.auth.deps import CurrentPrincipal, WriterPrincipal
from herald.contacts import bulk_tags, campaign_history, service
from herald.contacts.importer import import_contacts
from herald.contacts.rules import MAX_SEARCH_LENGTH
from herald.contacts.schemas import (
    BulkTagsIn,
    BulkTagsOut,
    ContactCampaignsOut,
    ContactCreate,
    ContactOut,
    ContactPage,
    ContactUpdate,
    ImportResult,
    TagCount,
    ValuedTagCount,
    ValuedTagValueCount,
)
from herald.kit.deps import DatabaseDep, ReadSessionDep, SessionDep, SettingsDep
from herald.kit.errors import Invalid, TooLarge
from herald.kit.openapi import file_upload_body

router = APIRouter(tags=["contacts"])

_IMPORT_BODY = file_upload_body()


@router.post("/contacts", response_model=ContactOut, status_code=201)
async def create_contact(
    body: ContactCreate,
    response: Response,
    session: SessionDep,
    principal: WriterPrincipal,
    upsert: Annotated[bool, Query(description="Update the contact with this phone if there is one.")] = False,
) -> ContactOut:
    contact, created = await service.create_contact(
        session, org_id=principal.org_id, data=body, upsert_by_phone=upsert
    )
    if not created:
        response.status_code = 200
    return contact


@router.get("/contacts", response_model=ContactPage)
async def list_contacts(
    session: ReadSessionDep,
    principal: CurrentPrincipal,
    tag: Annotated[list[str], Query(description="Has this tag (repeat: has all of them).")] = [],  # noqa: B006
    valued_tag: Annotated[list[str], Query(description="KEY (has the key) or KEY=VALUE.")] = [],  # noqa: B006
    q: Annotated[str | None, Query(description="Part of the name or of the phone.", max_length=MAX_SEARCH_LENGTH)] = None,
    limit: int = 50,
    cursor: str | None = None,
    before: Annotated[str | None, Query(description="A `prev_cursor`: the page just before it.")] = None,
    total: Annotated[bool, Query(description="Also count every contact matching the search.")] = False,
) -> ContactPage:
    return await service.list_contacts(
        session, org_id=principal.org_id, tags=tag, valued_tags=valued_tag, q=q, limit=limit, cursor=cursor,
        before=before, with_total=total,
    )


@router.post("/contacts/bulk-tags", response_model=BulkTagsOut)
async def change_tags_in_bulk(
    body: BulkTagsIn,
    session: SessionDep,
    principal: WriterPrincipal,
    dry_run: Annotated[bool, Query(description="Only count the contacts it would apply to (`matched`).")] = False,
) -> BulkTagsOut:
    """Adds and removes tags on the contacts in `contact_ids`, or on every contact matching `search`."""
    if dry_run:
        matched = await bulk_tags.count_matching(session, org_id=principal.org_id, data=body)
        return BulkTagsOut(matched=matched, added=0, removed=0, skipped=0)
    return await bulk_tags.change_tags(session, org_id=principal.org_id, data=body)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the file is larger than the {limit // (1024 * 1024)} MiB allowed", code="file_too_large")


@router.post("/contacts/import", response_model=ImportResult, openapi_extra=_IMPORT_BODY)
async def import_contacts_csv(
    request: Request, session: SessionDep, database: DatabaseDep, settings: SettingsDep, principal: WriterPrincipal
) -> ImportResult:
    """Import a CSV: ``phone,name,tags`` (tags ``;``-separated) plus ``vt:KEY`` columns; rows upsert by phone."""
    # The import commits batch by batch on sessions of its own; end the request's (authentication)
    # transaction first: on SQLite it would hold the write lock the batches wait for.
    await session.commit()
    # Parsed only now that the caller is authenticated (WriterPrincipal); the body limit
    # (app.body_routes) cuts off a body past HERALD_MAX_UPLOAD_BYTES and its envelope as it streams in.
    limit = settings.max_upload_bytes
    async with request.form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("send the CSV as the multipart field 'file'", field="file")
        if upload.size is not None and upload.size > limit:
            raise _too_large(limit)
        # Starlette spooled the upload to a temporary file; it is read line by line from there.
        await upload.seek(0)
        return await import_contacts(database, org_id=principal.org_id, stream=upload.file)


@router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: int, session: ReadSessionDep, principal: CurrentPrincipal) -> ContactOut:
    return await service.get_contact(session, org_id=principal.org_id, contact_id=contact_id)


@router.get("/contacts/{contact_id}/campaigns", response_model=ContactCampaignsOut)
async def get_contact_campaigns(contact_id: int, session: ReadSessionDep, principal: CurrentPrincipal) -> ContactCampaignsOut:
    """The campaign the contact is engaged in, each campaign message it was sent with its replies, its opt-out."""
    return await campaign_history.campaigns_of(session, org_id=principal.org_id, contact_id=contact_id)


@router.patch("/contacts/{contact_id}", response_model=ContactOut)
async def update_contact(
    contact_id: int, body: ContactUpdate, session: SessionDep, principal: WriterPrincipal
) -> ContactOut:
    return await service.update_contact(session, org_id=principal.org_id, contact_id=contact_id, data=body)


@router.delete("/contacts/{contact_id}", status_code=204)
async def delete_contact(contact_id: int, session: SessionDep, principal: WriterPrincipal) -> Response:
    await service.delete_contact(session, org_id=principal.org_id, contact_id=contact_id)
    return Response(status_code=204)


@router.get("/tags", response_model=list[TagCount])
async def list_tags(session: ReadSessionDep, principal: CurrentPrincipal) -> list[TagCount]:
    return await service.list_tags(session, org_id=principal.org_id)


@router.get("/valued-tags", response_model=list[ValuedTagCount])
async def list_valued_tags(session: ReadSessionDep, principal: CurrentPrincipal) -> list[ValuedTagCount]:
    return await service.list_valued_tags(session, org_id=principal.org_id)


@router.get("/valued-tags/{key}/values", response_model=list[ValuedTagValueCount])
async def list_valued_tag_values(
    key: str, session: ReadSessionDep, principal: CurrentPrincipal,
    q: Annotated[str, Query(max_length=MAX_SEARCH_LENGTH, description="only values starting with this")] = "",
    limit: Annotated[int, Query(ge=1, le=service.MAX_VALUES_LISTED)] = 100,
) -> list[ValuedTagValueCount]:
    """The values contacts hold under ``key``, the most common first: what an audience may ask for."""
    return await service.list_valued_tag_values(session, org_id=principal.org_id, key=key, prefix=q, limit=limit)
