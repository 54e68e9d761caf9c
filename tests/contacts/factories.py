"""Contacts made through the API, the way users make them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import OrgHandle

# Valid numbers (libphonenumber) in a few countries; the French mobile range is wide enough to count on.
US_PHONE = "+14155552671"
UK_PHONE = "+447911123456"
FR_PHONE = "+33612345678"


def fr_mobile(n: int) -> str:
    return f"+336{n:08d}"


async def create_contact(client: httpx.AsyncClient, org: OrgHandle, **fields: Any) -> dict[str, Any]:
    fields.setdefault("phone", fr_mobile(fields.pop("n", 1)))
    response = await client.post("/api/v1/contacts", json=fields, headers=org.auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
