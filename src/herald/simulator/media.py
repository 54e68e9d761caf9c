"""Uploaded media: Meta's type and size limits, 30-day ids and 5-minute download URLs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from herald.simulator.errors import GraphError

MB = 1024 * 1024
MEDIA_TTL_SECONDS = 30 * 86_400
URL_TTL_SECONDS = 5 * 60

_DOCUMENT_TYPES = (
    "text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
# MIME type -> (WhatsApp media kind, max bytes). Stickers: the animated 500 KB ceiling.
LIMITS: dict[str, tuple[str, int]] = {
    "image/jpeg": ("image", 5 * MB),
    "image/png": ("image", 5 * MB),
    "video/mp4": ("video", 16 * MB),
    "video/3gpp": ("video", 16 * MB),
    **{mime: ("audio", 16 * MB) for mime in ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg")},
    **{mime: ("document", 100 * MB) for mime in _DOCUMENT_TYPES},
    "image/webp": ("sticker", 500 * 1024),
}


def _content_matches(mime: str, data: bytes) -> bool:
    """Sniff the few formats whose magic bytes are certain; a mismatch later fails with 131053."""
    if mime == "image/jpeg":
        return data.startswith(b"\xff\xd8")
    if mime == "image/png":
        return data.startswith(b"\x89PNG")
    if mime == "application/pdf":
        return data.startswith(b"%PDF")
    if mime == "video/mp4":
        return data[4:8] == b"ftyp"
    if mime == "image/webp":
        return data.startswith(b"RIFF") and data[8:12] == b"WEBP"
    return True


@dataclass
class Media:
    id: str
    mime_type: str
    kind: str
    data: bytes
    sha256: str
    uploaded_at: float
    content_ok: bool

    def expired(self, now: float) -> bool:
        return now >= self.uploaded_at + MEDIA_TTL_SECONDS


class MediaStore:
    def __init__(self) -> None:
        self.items: dict[str, Media] = {}
        self._url_key = secrets.token_bytes(16)

    def upload(self, mime_type: str, data: bytes, now: float) -> Media:
        limit = LIMITS.get(mime_type.lower().split(";")[0].strip())
        if limit is None:
            raise GraphError(131053, f"Param file must be a file with one of the following types: "
                                     f"{', '.join(LIMITS)}. Received file of type '{mime_type}'.")
        kind, max_bytes = limit
        if len(data) > max_bytes:
            raise GraphError(131053, f"File of type {mime_type} is too big: {len(data)} bytes, "
                                     f"the {kind} limit is {max_bytes} bytes.")
        if not data:
            raise GraphError(100, "Param file must not be empty.")
        media = Media(
            id=str(10**15 + secrets.randbelow(9 * 10**15)), mime_type=mime_type, kind=kind, data=data,
            sha256=hashlib.sha256(data).hexdigest(), uploaded_at=now,
            content_ok=_content_matches(mime_type, data),
        )
        self.items[media.id] = media
        return media

    def get(self, media_id: str, now: float) -> Media | None:
        media = self.items.get(media_id)
        if media is None or media.expired(now):
            return None
        return media

    def delete(self, media_id: str) -> bool:
        return self.items.pop(media_id, None) is not None

    def usable_for_header(self, media_id: str | None, header_kind: str, now: float) -> bool:
        """Whether Meta could fetch this media for a header of that kind (else async 131053)."""
        if media_id is None:
            return True  # a link: fetched by Meta later, assumed good
        media = self.get(media_id, now)
        return media is not None and media.content_ok and media.kind == header_kind

    def url_signature(self, media_id: str, expires: int) -> str:
        return hmac.new(self._url_key, f"{media_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def download_url(self, base_url: str, media_id: str, now: float) -> str:
        expires = int(now + URL_TTL_SECONDS)
        sig = self.url_signature(media_id, expires)
        return f"{base_url}/_sim/media-download/{media_id}?expires={expires}&sig={sig}"
