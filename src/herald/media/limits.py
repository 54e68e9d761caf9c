"""WhatsApp's media limits for template headers (docs/architecture.md, "Templates and media"), checked before anything is sent to Meta."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class MediaKind:
    kind: str  # the template header kind: image, video or document
    max_bytes: int
    label: str


_IMAGE = MediaKind("image", 5 * MB, "images")
_VIDEO = MediaKind("video", 16 * MB, "videos")
_DOCUMENT = MediaKind("document", 100 * MB, "documents")
ACCEPTED: dict[str, MediaKind] = {
    "image/jpeg": _IMAGE,
    "image/png": _IMAGE,
    "video/mp4": _VIDEO,
    "video/3gpp": _VIDEO,
    "application/pdf": _DOCUMENT,
    "text/plain": _DOCUMENT,
    "application/msword": _DOCUMENT,
    "application/vnd.ms-excel": _DOCUMENT,
    "application/vnd.ms-powerpoint": _DOCUMENT,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _DOCUMENT,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _DOCUMENT,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _DOCUMENT,
}
MAX_MEDIA_BYTES = max(kind.max_bytes for kind in ACCEPTED.values())
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "video/3gp": "video/3gpp"}
_GENERIC = {"", "application/octet-stream", "binary/octet-stream"}
ACCEPTED_SUMMARY = (
    "JPEG or PNG images (up to 5 MB), MP4 or 3GPP videos (up to 16 MB), "
    "or PDF, TXT or Microsoft Office documents (up to 100 MB)"
)


_KIND_SUMMARY = {
    "image": "a JPEG or PNG image, up to 5 MB",
    "video": "an MP4 or 3GPP video (H.264 video, AAC audio), up to 16 MB",
    "document": "a PDF, TXT or Microsoft Office document, up to 100 MB",
}


_TYPE_NAMES = {
    "image/jpeg": "JPEG image", "image/png": "PNG image", "video/mp4": "MP4 video", "video/3gpp": "3GPP video",
    "application/pdf": "PDF document", "text/plain": "text file",
    "application/msword": "Word document", "application/vnd.ms-excel": "Excel spreadsheet",
    "application/vnd.ms-powerpoint": "PowerPoint presentation",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel spreadsheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint presentation",
}


def type_name(mime_type: str) -> str:
    """What a header file is, in a user's words: "PDF document", "MP4 video"."""
    return _TYPE_NAMES.get(mime_type, mime_type)


def accepted_for(kind: str) -> tuple[str, str]:
    """For a header of ``kind`` (image, video, document): the MIME types a file chooser offers, comma-separated,
    and what WhatsApp takes, in a user's words."""
    return ",".join(m for m, k in ACCEPTED.items() if k.kind == kind), _KIND_SUMMARY[kind]


class MediaRejected(ValueError):
    """The file breaks a WhatsApp limit; the message says which, in a user's words."""


def media_type(declared: str | None, filename: str | None) -> str:
    """The MIME type to upload as: the declared one, or a guess from the file name when it is generic."""
    mime = (declared or "").split(";", 1)[0].strip().lower()
    mime = _ALIASES.get(mime, mime)
    if mime in _GENERIC and filename:
        guessed, _ = mimetypes.guess_type(filename)
        mime = _ALIASES.get(guessed or "", guessed or "")
    return mime


def check_type_and_size(mime: str, size: int) -> MediaKind:
    kind = ACCEPTED.get(mime)
    if kind is None:
        shown = mime or "unknown"
        raise MediaRejected(f"file type {shown} cannot be used as template header media; send {ACCEPTED_SUMMARY}")
    if size <= 0:
        raise MediaRejected("file is empty")
    if size > kind.max_bytes:
        raise MediaRejected(
            f"file is {size / MB:.1f} MB; WhatsApp accepts {kind.label} up to {kind.max_bytes // MB} MB"
        )
    return kind


def check_content(mime: str, head: bytes) -> None:
    """Catch a declared type the bytes plainly contradict; Meta would accept it, then fail sends (131053)."""
    signatures = {
        "image/jpeg": head.startswith(b"\xff\xd8"),
        "image/png": head.startswith(b"\x89PNG\r\n\x1a\n"),
        "application/pdf": head.startswith(b"%PDF"),
        "video/mp4": head[4:8] == b"ftyp",
    }
    if not signatures.get(mime, True):
        raise MediaRejected(f"file content is not {mime}; check the file or its type")


def header_kind(mime_type: str) -> str:
    """`image`, `video` or `document`: the template header format this media fits."""
    kind = ACCEPTED.get(mime_type)
    if kind is None:
        raise ValueError(f"{mime_type} is not header media")
    return kind.kind
