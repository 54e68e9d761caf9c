from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class BotFlowCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    webhook_url: str = Field(min_length=1, max_length=1000)
    secret: str = Field(min_length=1, max_length=500, description="Signs every delivery; write-only.")


class BotFlowUpdate(BaseModel):
    """Every field optional; a secret left out (or null) keeps the stored one."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    webhook_url: str | None = Field(default=None, min_length=1, max_length=1000)
    secret: str | None = Field(default=None, min_length=1, max_length=500)


class BotFlowOut(BaseModel):
    id: int
    name: str
    webhook_url: str
    has_secret: bool
    created_at: datetime
