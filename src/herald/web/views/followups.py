"""The stats page's "Follow up" form: a new draft from the campaign's contacts with one outcome
(herald.campaigns.followups)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from herald.campaigns import followups
from herald.campaigns.followup_outcomes import Choice
from herald.campaigns.naming import shown
from herald.kit.deps import SessionDep
from herald.kit.errors import HeraldError
from herald.web.deps import UiWriter, redirect
from herald.web.wording import user_message

router = APIRouter(prefix="/ui/campaigns")
# The form's one select: ``outcome`` or ``outcome:button-or-step`` (an outcome name has no colon).
SEPARATOR = ":"


def choice_value(outcome: str, value: str | None) -> str:
    return outcome if value is None else f"{outcome}{SEPARATOR}{value}"


@router.post("/{campaign_id}/follow-ups")
async def create_followup(
    request: Request, campaign_id: int, session: SessionDep, user: UiWriter,
    choice: Annotated[str, Form(max_length=400)] = "", name: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Creates the follow-up and opens its audience step; a refusal goes back to the stats page."""
    back = f"/ui/campaigns/{campaign_id}/stats"
    outcome, _, value = choice.partition(SEPARATOR)
    try:
        picked = Choice.of(outcome, button=value or None, step=value or None)
        child = await followups.create_followup(
            session, principal=user.principal, parent_id=campaign_id, choice=picked, name=name
        )
    except HeraldError as exc:
        await session.rollback()
        return redirect(back, request, error=user_message(exc))
    lineage = await followups.lineage(session, child)
    contacts = lineage.contacts if lineage else 0
    return redirect(f"/ui/campaigns/{child.id}/edit/audience", request,
                    ok=f"Follow-up “{shown(child.name)}” created with {contacts:,} "
                       f"{'contact' if contacts == 1 else 'contacts'}: narrow it by tags if you like, then launch it.")
