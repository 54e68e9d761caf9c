"""Contacts: search, tag filter, pages and totals, CSV import, adding and deleting one contact, tags
in bulk, tags and valued tags, the contact's campaigns, inbox cases."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from herald.contacts import bulk_tags, campaign_history, history, service
from herald.contacts.importer import import_contacts
from herald.contacts.schemas import BulkTagsIn, ContactCreate, ContactSearch, ContactUpdate
from herald.inbox import service as inbox_service
from herald.inbox.schemas import CaseCreate
from herald.kit.deps import DatabaseDep, SessionDep, SettingsDep
from herald.kit.errors import HeraldError, Invalid
from herald.web.deps import UiUser, UiWriter, field_errors, redirect, render
from herald.web.wording import invalid_input, user_message
from herald.webhooks import events as webhook_events
from herald.webhooks import inbound_kinds

router = APIRouter(prefix="/ui/contacts")
PAGE_SIZE = 50


@router.get("", response_class=HTMLResponse)
async def contacts_page(
    request: Request, session: SessionDep, user: UiUser, q: str = "", tag: str = "", cursor: str | None = None,
    before: str | None = None,
) -> HTMLResponse:
    return await _list(request, session, user, q=q, tag=tag, cursor=cursor, before=before)


async def _list(request: Request, session: SessionDep, user: UiUser, *, q: str = "", tag: str = "",
                cursor: str | None = None, before: str | None = None, new: dict[str, str] | None = None,
                errors: dict[str, str] | None = None) -> HTMLResponse:
    org = user.principal.org_id
    page = await service.list_contacts(session, org_id=org, tags=[tag] if tag else [], q=q or None,
                                       limit=PAGE_SIZE, cursor=cursor, before=before, with_total=True)
    return render(request, "contacts/list.html", {
        "contacts": page.items, "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor,
        "total": page.total, "q": q, "tag": tag, "tags": await service.list_tags(session, org_id=org),
        "new": new or {}, "errors": errors or {},
    }, user=user, status_code=422 if errors else 200)


@router.post("", response_class=HTMLResponse)
async def add_contact(
    request: Request, session: SessionDep, user: UiWriter,
    phone: Annotated[str, Form(max_length=64)] = "", name: Annotated[str, Form(max_length=200)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    typed = {"phone": phone, "name": name, "tags": tags}
    try:
        if not phone.strip():
            raise Invalid("Enter the phone, with its country code.", field="phone")
        contact, _ = await service.create_contact(session, org_id=user.principal.org_id, data=ContactCreate(
            phone=phone, name=name or None, tags=_tag_list(tags)))
    except HeraldError as exc:
        await session.rollback()
        return await _list(request, session, user, new=typed, errors=field_errors(exc))
    return redirect(f"/ui/contacts/{contact.id}", request, ok=f"Contact {contact.phone} added.")


def _tag_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@router.post("/bulk-tags", response_class=HTMLResponse)
async def bulk_tags_form(
    request: Request, session: SessionDep, user: UiWriter,
    bulk_tags_text: Annotated[str, Form(alias="bulk_tags", max_length=2000)] = "",
    change: Annotated[str, Form()] = "add", scope: Annotated[str, Form()] = "selected",
    contact_id: Annotated[list[int], Form()] = [],  # noqa: B006
    q: Annotated[str, Form(max_length=200)] = "", tag: Annotated[str, Form(max_length=200)] = "",
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    """Asks first (how many contacts, which tags), then applies: every contact matching the search, or those ticked."""
    org = user.principal.org_id
    names = _tag_list(bulk_tags_text)
    data = BulkTagsIn(
        add=names if change == "add" else [], remove=names if change == "remove" else [],
        contact_ids=contact_id if scope == "selected" else None,
        search=ContactSearch(q=q or None, tag=[tag] if tag else []) if scope == "search" else None,
    )
    back = _list_url(q, tag)
    if not names:
        return redirect(back, request, error="Enter the tag to add or remove.")
    if scope == "selected" and not contact_id:
        return redirect(back, request, error="Tick the contacts to change, or choose every contact matching the search.")
    try:
        if not confirmed:
            matched = await bulk_tags.count_matching(session, org_id=org, data=data)
            return render(request, "contacts/bulk_confirm.html", {
                "matched": matched, "names": names, "change": change, "scope": scope, "contact_ids": contact_id,
                "q": q, "tag": tag, "tags_text": ", ".join(names), "back": back,
            }, user=user)
        result = await bulk_tags.change_tags(session, org_id=org, data=data)
    except HeraldError as exc:
        await session.rollback()
        return redirect(back, request, error=exc.message)
    shown = ", ".join(f"“{n}”" for n in names)
    if change == "add":
        message = f"Added {shown} to {result.matched:,} contacts ({result.added:,} tags added)."
        if result.skipped:
            message += f" {result.skipped:,} left as they were: they would hold more than 100 tags."
    else:
        message = f"Removed {shown} from {result.matched:,} contacts ({result.removed:,} tags removed)."
    return redirect(back, request, ok=message)


def _list_url(q: str, tag: str) -> str:
    query = urlencode({k: v for k, v in (("q", q), ("tag", tag)) if v})
    return "/ui/contacts" + (f"?{query}" if query else "")


@router.post("/import", response_class=HTMLResponse)
async def import_csv(
    request: Request, session: SessionDep, database: DatabaseDep, settings: SettingsDep, user: UiWriter,
) -> HTMLResponse:
    # The import commits batch by batch on sessions of its own: end this request's transaction first
    # (on SQLite it would hold the write lock the batches wait for).
    await session.commit()
    # Parsed only now that the session and the CSRF header are checked (UiWriter); the body limit
    # (app.body_routes) cuts off a body past HERALD_MAX_UPLOAD_BYTES as it streams in.
    async with request.form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return render(request, "contacts/_import_result.html", {"error": "Choose a CSV file."}, user=user,
                          status_code=422)
        if upload.size is not None and upload.size > settings.max_upload_bytes:
            message = f"The file is larger than the {settings.max_upload_bytes // 2**20} MiB allowed."
            return render(request, "contacts/_import_result.html", {"error": message}, user=user, status_code=413)
        await upload.seek(0)
        try:
            result = await import_contacts(database, org_id=user.principal.org_id, stream=upload.file)
        except HeraldError as exc:
            return render(request, "contacts/_import_result.html", {"error": exc.message}, user=user,
                          status_code=422)
    return render(request, "contacts/_import_result.html", {"result": result}, user=user)


@router.get("/{contact_id}", response_class=HTMLResponse)
async def contact_page(request: Request, contact_id: int, session: SessionDep, user: UiUser) -> HTMLResponse:
    return await _contact(request, session, user, contact_id)


async def _contact(request: Request, session: SessionDep, user: UiUser, contact_id: int,
                   errors: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> HTMLResponse:
    """``values``: what the form gave, shown again as typed next to the refusal."""
    org = user.principal.org_id
    contact = await service.get_contact(session, org_id=org, contact_id=contact_id)
    cases = await inbox_service.list_cases(session, org_id=org, contact_id=contact_id, limit=20)
    return render(request, "contacts/edit.html", {
        "contact": contact, "cases": cases.items, "errors": errors or {}, "values": values,
        "campaigns": await campaign_history.campaigns_of(session, org_id=org, contact_id=contact_id),
        "has_open_case": any(c.status.value == "open" for c in cases.items),
        "received": [_received(m) for m in await history.messages_of(session, contact_id=contact_id)],
        "events": await history.events_of(session, contact_id=contact_id),
    }, user=user, status_code=422 if errors else 200)


def _received(row: Any) -> dict[str, Any]:
    """An inbound message as the contact's page lists it: what it is, what it said, Meta's errors."""
    message = webhook_events.inbound_from(row.payload)
    return {"at": row.sent_at, "type": row.type, "text": row.text, "kind": inbound_kinds.classify(message).label,
            "errors": [e for e in row.payload.get("errors") or [] if isinstance(e, dict)]}


def _valued_tags(text: str, current: dict[str, str]) -> dict[str, str | None]:
    """The changes the textarea's ``KEY=VALUE`` lines make: a key no longer listed is deleted (null).

    Lines left as the page showed them are not sent again, so a key stored before the key rule existed
    (even one holding an ``=``) does not stop the contact from being saved; its line can be removed."""
    as_shown = {f"{key}={value}": key for key, value in current.items()}
    given: dict[str, str | None] = {}
    for line in text.splitlines():
        if (shown := as_shown.get(line.strip())) is not None:
            given[shown] = current[shown]
            continue
        key, _, value = line.partition("=")
        if key.strip():
            given[key.strip()] = value.strip()
    changed = {k: v for k, v in given.items() if current.get(k) != v}
    return {**dict.fromkeys((k for k in current if k not in given), None), **changed}


@router.post("/{contact_id}", response_class=HTMLResponse)
async def update_contact(
    request: Request, contact_id: int, session: SessionDep, user: UiWriter,
    name: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = "",
    valued_tags: Annotated[str, Form()] = "", opted_out: Annotated[str, Form()] = "",
    wa_user_id: Annotated[str, Form()] = "",
) -> Response:
    """Every value is taken as typed and checked by the service, so a refusal re-renders the form with it."""
    org = user.principal.org_id
    typed = {"name": name, "tags": tags, "valued_tags": valued_tags, "opted_out": bool(opted_out),
             "wa_user_id": wa_user_id}
    try:
        current = await service.get_contact(session, org_id=org, contact_id=contact_id)
        data = ContactUpdate(
            name=name, tags=[t.strip() for t in tags.split(",") if t.strip()],
            valued_tags=_valued_tags(valued_tags, current.valued_tags), opted_out=bool(opted_out),
        )
        if wa_user_id.strip() != (current.wa_user_id or ""):  # sent only when changed; empty removes it
            data.wa_user_id = wa_user_id.strip() or None
        await service.update_contact(session, org_id=org, contact_id=contact_id, data=data)
    except ValidationError as exc:
        return await _contact(request, session, user, contact_id, invalid_input(exc), typed)
    except HeraldError as exc:
        await session.rollback()
        return await _contact(request, session, user, contact_id, field_errors(exc), typed)
    return redirect(f"/ui/contacts/{contact_id}", request, ok="Contact saved.")


@router.post("/{contact_id}/delete")
async def delete_contact(request: Request, contact_id: int, session: SessionDep, user: UiWriter) -> Response:
    try:
        contact = await service.get_contact(session, org_id=user.principal.org_id, contact_id=contact_id)
        await service.delete_contact(session, org_id=user.principal.org_id, contact_id=contact_id)
    except HeraldError as exc:
        await session.rollback()
        return redirect(f"/ui/contacts/{contact_id}", request, error=f"Not deleted: {exc.message}.")
    shown = contact.name or contact.phone or contact.wa_user_id
    return redirect("/ui/contacts", request, ok=f"Contact {shown} deleted.")


@router.post("/{contact_id}/cases")
async def open_case(
    request: Request, contact_id: int, session: SessionDep, user: UiWriter,
    subject: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    back = f"/ui/contacts/{contact_id}"
    try:
        await inbox_service.open_case(session, org_id=user.principal.org_id,
                                      data=CaseCreate(contact_id=contact_id, subject=subject or None))
    except HeraldError as exc:
        await session.rollback()
        return redirect(back, request, error=user_message(exc))
    return redirect(back, request, ok="Case opened: campaigns skip this contact until it is closed.")


@router.post("/{contact_id}/cases/{case_id}/close")
async def close_case(request: Request, contact_id: int, case_id: int, session: SessionDep, user: UiWriter) -> Response:
    back = f"/ui/contacts/{contact_id}"
    try:
        await inbox_service.close_case(session, org_id=user.principal.org_id, case_id=case_id)
    except HeraldError as exc:
        await session.rollback()
        return redirect(back, request, error=user_message(exc))
    return redirect(back, request, ok="Case closed.")
