"""Bots answering a user inside WhatsApp's 24-hour customer-service window (docs/architecture.md, "The 24-hour window")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts.rules import normalize_phone
from herald.kit.crypto import SecretBox
from herald.kit.errors import Conflict, HeraldError, NotFound, TooManyRequests
from herald.kit.types import utcnow
from herald.numbers.errors import graph_failure, graph_failure_details
from herald.numbers.service import credentials_of
from herald.replies import repository
from herald.replies.schemas import MessageIn, MessageOut
from herald.whatsapp import CloudAPIClient, NumberCredentials, WhatsAppError
from herald.whatsapp.recipient import is_bsuid

SERVICE_WINDOW = timedelta(hours=24)
OUTSIDE_WINDOW_CODE = 131047


class OutsideServiceWindow(Conflict):
    code = "outside_service_window"

    def __init__(self) -> None:
        super().__init__(
            "a free-text message cannot be sent: more than 24 hours since the contact's last message "
            f"(WhatsApp {OUTSIDE_WINDOW_CODE}); send a template instead"
        )


class RateLimited(TooManyRequests):
    """WhatsApp refused for pace: the number's throughput (130429) or this user's pair rate (131056).

    Bot answers share the number's throughput with the campaign it is sending; the bot should retry
    after ``Retry-After`` seconds (1 s for the number, 6 s — the pair bucket's refill — for the user).
    """

    code = "rate_limited"


class WhatsAppRefused(HeraldError):
    status_code = 502
    code = "whatsapp_error"


@dataclass(frozen=True, slots=True)
class Answer:
    """A checked answer: the number to send from, the user (E.164, or a user id) and the text."""

    creds: NumberCredentials
    to: str
    text: str


async def prepare_answer(
    session: AsyncSession, box: SecretBox, *, org_id: int, data: MessageIn, now: datetime | None = None
) -> Answer:
    """Raises NotFound (not our number) or OutsideServiceWindow before anything is sent."""
    number = await repository.number_of_org(session, org_id=org_id, number_id=data.whatsapp_number_id)
    if number is None:
        raise NotFound("WhatsApp number not found", code="whatsapp_number_not_found")
    if is_bsuid(data.to.strip()):  # a username user (docs/whatsapp.md, "Username users")
        to = data.to.strip()
        contact_id = await repository.contact_id_by_user_id(session, org_id=org_id, user_id=to)
        last = None if contact_id is None else await repository.last_inbound_at(
            session, number_id=number.id, wa_id="", contact_id=contact_id
        )
    else:
        to = normalize_phone(data.to, field="to")
        contact_id = await repository.contact_id_by_phone(session, org_id=org_id, phone=to)
        last = await repository.last_inbound_at(session, number_id=number.id, wa_id=to.lstrip("+"), contact_id=contact_id)
    if last is None or (now or utcnow()) - last > SERVICE_WINDOW:
        raise OutsideServiceWindow()
    return Answer(creds=credentials_of(box, number), to=to, text=data.text)


async def send_answer(client: CloudAPIClient, answer: Answer) -> MessageOut:
    try:
        result = await client.send_text(answer.creds, answer.to, answer.text)
    except WhatsAppError as exc:
        if exc.code == OUTSIDE_WINDOW_CODE:
            raise OutsideServiceWindow() from exc  # WhatsApp's clock disagreed with the last message we saw
        if exc.is_throughput_limit or exc.is_pair_rate_limit:
            raise RateLimited(
                f"WhatsApp asks to slow down: {exc.human_reason}; retry later",
                retry_after=1 if exc.is_throughput_limit else 6,
                details={"code": exc.code, "http_status": exc.http_status, "message": exc.message},
            ) from exc
        base = answer.creds.graph_api_base
        shown = graph_failure_details(base, exc) is not None  # Graph's own words, not a stranger's answer
        raise WhatsAppRefused(
            f"WhatsApp did not accept the message: {graph_failure(base, exc)}",
            details={"code": exc.code, "http_status": exc.http_status, "message": exc.message} if shown else None,
        ) from exc
    return MessageOut(wamid=result.wamid)
