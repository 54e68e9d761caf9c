"""Key rotation: re-encrypt every secret stored at rest with the first configured Fernet key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.crypto import SecretBox
from herald.models import BotFlow, EventEndpoint, WhatsAppNumber

# model → its encrypted columns
ENCRYPTED: list[tuple[Any, tuple[str, ...]]] = [
    (WhatsAppNumber, ("access_token_enc", "app_secret_enc", "verify_token_enc")),
    (BotFlow, ("secret_enc",)),
    (EventEndpoint, ("secret_enc",)),
]


async def rotate_secrets(session: AsyncSession, box: SecretBox) -> dict[str, int]:
    """Re-encrypts each secret with the first key (any configured key may decrypt it); returns rows per table.

    Raises ValueError (nothing committed by the caller's rollback) when a secret decrypts with no key.
    """
    counts: dict[str, int] = {}
    for model, columns in ENCRYPTED:
        rows = (await session.execute(select(model.id, *(getattr(model, c) for c in columns)))).all()
        for row in rows:
            values = {}
            for column, token in zip(columns, row[1:], strict=True):
                if token:
                    box.decrypt(token)  # a clear error when no configured key opens it
                    values[column] = box.rotate(token)
            if values:
                await session.execute(
                    update(model).where(model.id == row[0]).values(**values).execution_options(synchronize_session=False)
                )
        counts[model.__tablename__] = len(rows)
    return counts
