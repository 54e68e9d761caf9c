from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from herald.auth.principal import Role


class ApiKeyCreate(BaseModel):
    name: str = Field(default="", max_length=200)
    role: Role = Role.editor


class ApiKeyOut(BaseModel):
    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. Shown once; only an HMAC of it is stored.")


class UserCreate(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(min_length=8, max_length=200)
    role: Role = Role.editor


class UserOut(BaseModel):
    id: int
    email: str
    role: Role
    active: bool = Field(description="An inactive user cannot sign in and has no sessions.")
    created_at: datetime


class UserUpdate(BaseModel):
    """Only what is given changes. Unknown fields are refused, so a misspelt ``active`` cannot pass
    for a deactivation that did not happen."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    active: bool | None = Field(default=None, description="false: the user cannot sign in; their sessions end at once.")
    password: str | None = Field(
        default=None, min_length=8, max_length=200,
        description="An admin's reset: the user's new password; their sessions end at once.",
    )


class Me(BaseModel):
    org_id: int
    role: Role
