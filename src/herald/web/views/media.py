"""Header media as the pages show it: the file itself, for the message preview's image, video or document."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from herald.kit.deps import SessionDep
from herald.media import service as media_service
from herald.media.limits import header_kind
from herald.web.deps import UiUser

router = APIRouter(prefix="/ui/media")


@router.get("/{media_row_id}/file")
async def media_file(media_row_id: int, session: SessionDep, user: UiUser) -> Response:
    """The stored bytes, as uploaded, to a signed-in user of the media's organization.

    Images and videos are shown in the page (the browser reads a video's metadata and first frame);
    a document is a download. The type is the one checked at upload, and nosniff
    (``herald.web.headers``) keeps the browser from guessing another.
    """
    media = await media_service.get_media(session, org_id=user.principal.org_id, media_row_id=media_row_id)
    content = await media_service.media_content(session, media)
    disposition = "inline" if header_kind(media.mime_type) in ("image", "video") else "attachment"
    return Response(content, media_type=media.mime_type, headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(media.filename, safe='')}",
        "Cache-Control": "private, max-age=3600",
    })
