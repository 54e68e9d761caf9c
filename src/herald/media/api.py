from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import UploadFile

from herald.auth.deps import CurrentPrincipal, WriterPrincipal
from herald.kit.deps import SecretBoxDep, SessionDep
from herald.kit.errors import Invalid
from herald.kit.openapi import file_upload_body
from herald.kit.pagination import Page
from herald.media import service
from herald.media.limits import header_kind
from herald.media.schemas import MediaOut
from herald.models import Media
from herald.numbers import service as numbers_service
from herald.numbers.deps import CloudClientDep

router = APIRouter(tags=["media"])

_UPLOAD_BODY = file_upload_body("JPEG/PNG ≤ 5 MB, MP4/3GPP ≤ 16 MB, PDF/TXT/Office ≤ 100 MB")


def media_out(media: Media) -> MediaOut:
    return MediaOut(
        id=media.id,
        media_id=media.media_id,
        mime_type=media.mime_type,
        size=media.size,
        kind=header_kind(media.mime_type),
        filename=media.filename,
        whatsapp_number_id=media.whatsapp_number_id,
        uploaded_at=media.uploaded_at,
        expires_at=media.expires_at,
        created_at=media.created_at,
    )


@router.post(
    "/whatsapp-numbers/{number_id}/media", response_model=MediaOut, status_code=201, openapi_extra=_UPLOAD_BODY
)
async def upload_media(
    request: Request,
    number_id: int,
    session: SessionDep,
    box: SecretBoxDep,
    client: CloudClientDep,
    principal: WriterPrincipal,
) -> MediaOut:
    creds = await numbers_service.credentials_for(session, box, org_id=principal.org_id, number_id=number_id)
    await session.commit()  # no transaction (on SQLite, no write lock) held while the file is read and sent
    # The body is parsed only now, the caller authenticated and the number theirs (a `File()`
    # parameter would have been read, and spooled to disk, before any of that); the body limit
    # (app.body_routes) cuts it off past the largest media WhatsApp takes.
    async with request.form(max_files=1, max_fields=1) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise Invalid("send the file as the multipart field 'file'", field="file")
        # Type and size first, from what the multipart part declares: a refused file is never read or sent.
        if file.size is not None:
            service.checked_media_type(file.content_type, file.filename, file.size)
        media_file = service.checked_media_file(file.filename or "upload", file.content_type, await file.read())
    media_id = await service.send_media(client, creds, media_file)
    media = await service.record_media(
        session, org_id=principal.org_id, number_id=number_id, creds=creds, media_file=media_file,
        media_id=media_id,
    )
    return media_out(media)


@router.get("/media", response_model=Page[MediaOut])
async def list_media(
    session: SessionDep,
    principal: CurrentPrincipal,
    whatsapp_number_id: int | None = None,
    limit: int = Query(100),
    cursor: str | None = None,
) -> Page[MediaOut]:
    rows, next_cursor = await service.list_media(
        session, org_id=principal.org_id, whatsapp_number_id=whatsapp_number_id, cursor=cursor, limit=limit
    )
    return Page[MediaOut](items=[media_out(m) for m in rows], next_cursor=next_cursor)


@router.get("/media/{media_row_id}", response_model=MediaOut)
async def get_media(media_row_id: int, session: SessionDep, principal: CurrentPrincipal) -> MediaOut:
    return media_out(await service.get_media(session, org_id=principal.org_id, media_row_id=media_row_id))


@router.delete("/media/{media_row_id}", status_code=204)
async def delete_media(media_row_id: int, session: SessionDep, principal: WriterPrincipal) -> Response:
    await service.delete_media(session, org_id=principal.org_id, media_row_id=media_row_id)
    return Response(status_code=204)
