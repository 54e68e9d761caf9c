"""Header media: the rules. Services flush, never commit.

An upload is made with no transaction open (see `herald.numbers.service`): the caller reads the
credentials, commits, runs `send_media`, then `record_media` in a new transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.crypto import SecretBox
from herald.kit.errors import Conflict, Invalid, NotFound
from herald.kit.pagination import clamp_limit, decode_cursor, encode_cursor
from herald.kit.types import utcnow
from herald.media import repository
from herald.media.limits import MediaRejected, check_content, check_type_and_size, media_type
from herald.models import Media
from herald.numbers import repository as numbers_repository
from herald.numbers import service as numbers_service
from herald.numbers.errors import WhatsAppCallFailed
from herald.whatsapp import CloudAPIClient, NumberCredentials, WhatsAppError

MEDIA_ID_LIFETIME = timedelta(days=30)
# A campaign launched just before expiry may still be sending hours later: re-upload a day early.
FRESHNESS_MARGIN = timedelta(days=1)
_FILENAME_MAX = 300


def checked_media_type(declared: str | None, filename: str | None, size: int) -> str:
    """The MIME type to upload as, or `Invalid` on field `file`; run before reading or sending the bytes."""
    mime = media_type(declared, filename)
    try:
        check_type_and_size(mime, size)
    except MediaRejected as exc:
        raise Invalid(str(exc), field="file", code="media_rejected") from exc
    return mime


@dataclass(frozen=True)
class MediaFile:
    """A file that passed WhatsApp's checks, ready to upload."""

    filename: str
    mime_type: str
    content: bytes = field(repr=False)


def checked_media_file(filename: str | None, declared_type: str | None, content: bytes) -> MediaFile:
    """The file to upload, or `Invalid` on field `file` if its type, size or bytes break WhatsApp's limits."""
    mime = checked_media_type(declared_type, filename, len(content))
    try:
        check_content(mime, content[:16])
    except MediaRejected as exc:
        raise Invalid(str(exc), field="file", code="media_rejected") from exc
    return MediaFile(filename=(filename or "upload")[-_FILENAME_MAX:], mime_type=mime, content=content)


async def send_media(client: CloudAPIClient, creds: NumberCredentials, media_file: MediaFile) -> str:
    """Upload the file to the number; returns Meta's media id. Call it with no transaction open."""
    return await _upload(client, creds, media_file.content, media_file.filename, media_file.mime_type)


async def record_media(
    session: AsyncSession,
    *,
    org_id: int,
    number_id: int,
    creds: NumberCredentials,
    media_file: MediaFile,
    media_id: str,
) -> Media:
    """Keep the bytes `send_media` uploaded with `creds`, for re-uploads, and the media id Meta gave.

    The number is read again: deleted meanwhile is `NotFound`; moved to another phone number or Graph
    API meanwhile is a `Conflict`, the media id belonging to the old one.
    """
    number = await numbers_service.get_current_number(session, org_id=org_id, number_id=number_id)
    if not numbers_service.still_targets(number, creds):
        raise Conflict(numbers_service.CHANGED_DURING_CALL, code="whatsapp_number_changed")
    now = utcnow()
    media = Media(
        org_id=org_id, whatsapp_number_id=number.id, media_id=media_id, mime_type=media_file.mime_type,
        filename=media_file.filename, size=len(media_file.content), content=media_file.content,
        uploaded_at=now, expires_at=now + MEDIA_ID_LIFETIME,
    )
    session.add(media)
    await session.flush()
    return media




async def get_media(session: AsyncSession, *, org_id: int, media_row_id: int) -> Media:
    media = await repository.get(session, org_id=org_id, media_row_id=media_row_id)
    if media is None:
        raise NotFound("no such media in this organization", code="media_not_found")
    return media


async def media_content(session: AsyncSession, media: Media) -> bytes:
    """The bytes that were uploaded (up to 100 MB: only for showing or re-uploading that one file)."""
    return await repository.content(session, media_row_id=media.id)


async def list_media(
    session: AsyncSession, *, org_id: int, whatsapp_number_id: int | None, cursor: str | None, limit: int
) -> tuple[list[Media], str | None]:
    limit = clamp_limit(limit)
    rows = await repository.list_page(
        session, org_id=org_id, whatsapp_number_id=whatsapp_number_id, after_id=decode_cursor(cursor), limit=limit + 1
    )
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def delete_media(session: AsyncSession, *, org_id: int, media_row_id: int) -> None:
    media = await get_media(session, org_id=org_id, media_row_id=media_row_id)
    await session.delete(media)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("this media is a campaign's header; change those campaigns first", code="media_in_use") from exc


async def ensure_fresh_media_id(
    session: AsyncSession, client: CloudAPIClient, box: SecretBox, *, media_row_id: int, org_id: int | None = None
) -> str:
    """A Meta media id valid for at least another day, re-uploading the stored bytes if needed.

    For the campaign engine at launch; pass `org_id` to also check the media belongs to it.
    """
    media = await (
        repository.get_any_org(session, media_row_id=media_row_id)
        if org_id is None
        else repository.get(session, org_id=org_id, media_row_id=media_row_id)
    )
    if media is None:
        raise NotFound("no such media", code="media_not_found")
    now = utcnow()
    if media.expires_at - now > FRESHNESS_MARGIN:
        return media.media_id
    number = await numbers_repository.get(session, org_id=media.org_id, number_id=media.whatsapp_number_id)
    if number is None:  # the foreign key cascades, so only a concurrent delete gets here
        raise NotFound("the media's WhatsApp number no longer exists", code="whatsapp_number_not_found")
    content = await repository.content(session, media_row_id=media.id)
    creds = numbers_service.credentials_of(box, number)
    media.media_id = await _upload(client, creds, content, media.filename, media.mime_type)
    media.uploaded_at = now
    media.expires_at = now + MEDIA_ID_LIFETIME
    await session.flush()
    return media.media_id


async def _upload(client: CloudAPIClient, creds: NumberCredentials, content: bytes, filename: str, mime: str) -> str:
    try:
        return await client.upload_media(creds, content, filename, mime)
    except WhatsAppError as exc:
        raise WhatsAppCallFailed.wrap("uploading the media to WhatsApp", creds.graph_api_base, exc) from exc
