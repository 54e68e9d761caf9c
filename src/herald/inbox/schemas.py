"""Inbox cases as the API shows them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator


class CaseStatus(StrEnum):
    open = "open"
    closed = "closed"


class CaseCreate(BaseModel):
    """Exactly one of ``phone`` (any form with its country code) and ``contact_id``."""

    phone: str | None = Field(default=None, max_length=64)
    contact_id: int | None = None
    subject: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _one_target(self) -> CaseCreate:
        if (self.phone is None) == (self.contact_id is None):
            raise ValueError("give exactly one of phone and contact_id")
        return self


class CaseOut(BaseModel):
    id: int
    contact_id: int
    phone: str | None = Field(description="The contact's phone; null for a contact known only by its WhatsApp user id.")
    status: CaseStatus
    subject: str | None
    created_at: datetime
    closed_at: datetime | None
