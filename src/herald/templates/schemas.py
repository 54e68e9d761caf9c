from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class UnusableTemplate(BaseModel):
    name: str
    language: str
    reason: str


class RemovedTemplate(BaseModel):
    name: str
    language: str


class TemplateSyncResult(BaseModel):
    synced: int
    usable: int
    unusable: list[UnusableTemplate]
    removed: list[RemovedTemplate]


class TemplateOut(BaseModel):
    id: int
    waba_id: str
    name: str
    language: str
    status: str
    category: str | None
    parameter_format: str
    variables: list[str]
    header_format: str | None
    quick_reply_count: int
    usable: bool
    reason: str | None
    body_text: str | None
    synced_at: datetime
    removed_at: datetime | None
    quality_score: str | None = None
    status_updated_at: datetime | None = None


class TemplateEventOut(BaseModel):
    """One thing Meta said about the template (a webhook), newest first."""

    id: int
    field: str
    event: str
    status: str | None
    category: str | None
    quality_score: str | None
    reason: str | None
    detail: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
