"""Who is calling: an API key or a logged-in user, always inside one organization."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    editor = "editor"
    viewer = "viewer"


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: int
    role: Role
    api_key_id: int | None = None
    user_id: int | None = None

    @property
    def can_write(self) -> bool:
        return self.role in (Role.admin, Role.editor)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin
