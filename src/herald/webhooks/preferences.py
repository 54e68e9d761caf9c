"""Applying ``user_preferences`` webhooks: a user stops or resumes marketing messages (docs/architecture.md, "Webhooks").

An opted-out contact is left out of later campaigns at materialisation (docs/architecture.md, "Who receives a message").
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.replies import repository
from herald.webhooks import events as ev
from herald.webhooks import opting
from herald.webhooks.events import StoredEvent, mark

MARKETING = "marketing_messages"
STOP_REASON = "stopped marketing messages in WhatsApp"
RESUME_REASON = "resumed marketing messages in WhatsApp"


async def apply_preferences(session: AsyncSession, rows: list[StoredEvent]) -> None:
    # Event time order: a stop and a resume in one round end as the user last chose.
    items = sorted(((row, ev.preference_from(row.payload)) for row in rows), key=lambda p: (p[1].timestamp, p[0].id))
    numbers = await repository.numbers_by_phone_number_id(session, {p.phone_number_id for _, p in items})
    for row, preference in items:
        number = numbers.get(preference.phone_number_id)
        if number is None:
            mark(row, "unknown_number")
            continue
        if preference.category != MARKETING:
            mark(row, "ignored")
            continue
        contact_id = await repository.contact_id_for_sender(
            session, org_id=number.org_id, wa_id=preference.wa_id, user_id=preference.user_id
        )
        if contact_id is None:
            mark(row, "unknown_contact")
            continue
        if preference.value == "stop":
            await opting.opt_out(session, org_id=number.org_id, contact_id=contact_id, at=preference.timestamp,
                                 reason=STOP_REASON)
        else:
            await opting.opt_in(session, org_id=number.org_id, contact_id=contact_id, at=preference.timestamp,
                                reason=RESUME_REASON)
        mark(row, preference.value)
