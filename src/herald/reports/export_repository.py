"""The report CSV's queries: the database writes each page of the file itself.

Formatting a million rows in Python (row objects, datetime formatting, the formula guard, the csv
module) cost about seven times what writing the same rows with the csv module from memory does.
So each dialect's query returns finished CSV text: cells guarded and quoted exactly as
``herald.kit.csv`` does (``guard_cell``, then the csv module's minimal quoting, ``\\r\\n`` line
ends), times as ISO 8601 UTC to the second, the funnel steps as a JSON object. Python only pages
and streams.

A page is read in two statements. The first cuts it on the (campaign_id, contact_id) unique index
(an index-only scan: each page costs the same however deep) and returns its last contact id. The
second reads the rows of that contact-id range joined to their contacts and to the range's funnel
steps, aggregated once per page: a lookup per row (correlated subqueries) cost about as much as
all the formatting, and most contacts have no funnel step.

One function per dialect: the string functions differ (``printf``/``GLOB`` vs
``concat``/``strpos``, text times vs ``to_char``, ``json_group_object`` vs ``string_agg``).
Both return a page as one value, aggregated in contact id order: no per-row work in Python.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.csv import FORMULA_TRIGGERS
from herald.kit.dialect import is_postgres
from herald.models import MessageStatus
from herald.models.campaign_message import VARIANT_NAMES
from herald.reports import subsets
from herald.reports.subsets import Subset

# A delivered, read, sent or pending message may still carry the text of a retried error: not its outcome.
ERROR_SHOWN = (MessageStatus.failed, MessageStatus.not_sent, MessageStatus.unknown)


def _sql_string(value: str) -> str:
    """A SQL string literal (both dialects, standard_conforming_strings): only quotes are special."""
    return "'" + value.replace("'", "''") + "'"


_TRIGGERS = ", ".join(_sql_string(trigger) for trigger in FORMULA_TRIGGERS)
_SHOWN = ", ".join(_sql_string(status) for status in ERROR_SHOWN)
# The csv module (QUOTE_MINIMAL, lineterminator "\r\n") quotes a cell holding one of these.
_NEEDS_QUOTES = (",", '"', "\r", "\n")
# Every formula trigger sorts below "A" byte-wise: most names, and every wamid, skip the IN test.
assert all(trigger < "A" for trigger in FORMULA_TRIGGERS)


def _quoted(guarded: str) -> str:
    return f"'\"' || replace({guarded}, '\"', '\"\"') || '\"'"


def _sqlite_cell(column: str) -> str:
    """``guard_cell`` and the csv module's quoting of a text column (NULL stays NULL), in SQLite."""
    guarded = (
        f"CASE WHEN {column} >= 'A' THEN {column}"
        f" WHEN substr({column}, 1, 1) IN ({_TRIGGERS}) THEN '''' || {column} ELSE {column} END"
    )
    # instr finds a character with memchr; GLOB '*[...]*' retried the class at every position
    # (0.02 us a cell more, on three cells a row).
    quotes = " OR ".join(f"instr({column}, {_sql_string(char)})" for char in _NEEDS_QUOTES)
    return f"CASE WHEN {quotes} THEN {_quoted(guarded)} ELSE {guarded} END"


def _postgres_cell(column: str) -> str:
    """``guard_cell`` and the csv module's quoting of a text column (NULL stays NULL), in PostgreSQL."""
    guarded = (
        f"CASE WHEN {column} >= 'A' COLLATE \"C\" THEN {column}"
        f" WHEN left({column}, 1) IN ({_TRIGGERS}) THEN '''' || {column} ELSE {column} END"
    )
    quotes = " OR ".join(f"strpos({column}, {_sql_string(char)}) > 0" for char in _NEEDS_QUOTES)
    return f"CASE WHEN {quotes} THEN {_quoted(guarded)} ELSE {guarded} END"


def _sqlite_time(column: str) -> str:
    """Every write binds through ``UTCDateTime``, so SQLite holds UTC as 'YYYY-MM-DD HH:MM:SS.ffffff'
    text: cutting it is exact, and cheaper than ``strftime``, which parses it. Its one space is the
    date-time separator."""
    return f"replace(substr({column}, 1, 19), ' ', 'T') || 'Z'"


def _postgres_time(column: str) -> str:
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


_TIMES = ("sent_at", "delivered_at", "read_at", "replied_at")
# Phone (E.164: ``+`` and digits) and status (a fixed word) need neither guard nor quotes.
_CELLS = (
    "p.contact_id", "c.phone", "{cell_name}", "p.status",
    f"CASE WHEN p.status IN ({_SHOWN}) THEN {{cell_error}} END",
    *(f"{{time_{name}}}" for name in _TIMES), "{cell_wamid}", "coalesce(f.steps, '{{}}')", "{cell_wa_user_id}",
    # Appended after the contract's columns: tries so far, the last error (whatever the status: a
    # message retried after 131049 keeps it), and why a pending message waits and until when.
    "p.attempts", "{cell_last_error}", "{cell_waiting}",
    # Then what Meta's status webhooks said it costs: its pricing category and the rate card's price
    # (docs/costs.md); empty until a status priced it.
    "{cell_pricing_category}", "p.price",
    # The A/B variant letter (NULL: no variant, an empty cell).
    f"substr('{VARIANT_NAMES}', p.variant + 1, 1)",
)
_IN_RANGE = "campaign_id = {campaign} AND contact_id > {after} AND contact_id <= {last}"
# The range is repeated on contacts: PostgreSQL does not carry it through the join, and without it
# may hash every contact of the table for each page.
_FROM = (
    "FROM campaign_messages AS p"
    " LEFT JOIN contacts AS c ON c.id = p.contact_id AND c.id > {after} AND c.id <= {last}"
    " LEFT JOIN ({steps} FROM funnel_events WHERE " + _IN_RANGE + " GROUP BY contact_id) AS f"
    " ON f.contact_id = p.contact_id"
    " WHERE p." + _IN_RANGE.replace(" contact_id", " p.contact_id")
)


def _waiting(time: Any) -> str:
    return (
        f"(CASE WHEN p.status = '{MessageStatus.pending}' AND p.next_attempt_at IS NOT NULL"
        f" AND p.wait_reason IS NOT NULL THEN p.wait_reason || '; next send at ' || {time('p.next_attempt_at')} END)"
    )


def _cells(cell: Any, time: Any) -> dict[str, str]:
    return {
        "cell_name": cell("c.name"), "cell_error": cell("p.error_msg"), "cell_wamid": cell("p.wamid"),
        "cell_wa_user_id": cell("c.wa_user_id"),
        "cell_last_error": cell("p.error_msg"), "cell_waiting": cell(_waiting(time)),
        "cell_pricing_category": cell("p.pricing_category"),
        **{f"time_{name}": time(f"p.{name}") for name in _TIMES},
    }


def _sqlite_page(subset: str = "") -> str:
    # printf writes NULL as an empty cell: no coalesce per cell. The line end is in the format
    # itself: a format that is an expression is built again for every row.
    line = "printf('" + ",".join(["%s"] * len(_CELLS)) + "\r\n', " + ", ".join(_CELLS) + ")"
    # The steps in time order, as on PostgreSQL: json_group_object keeps the order it is fed, and an
    # ordered subquery under an aggregate feeds it so (as for the page, below). Only contacts with
    # steps run it; the outer GROUP BY follows the primary key, so no sort reorders a contact's steps.
    steps = (
        "SELECT contact_id, (SELECT '\"' || replace(json_group_object(s.step, strftime('%Y-%m-%dT%H:%M:%SZ', s.at)),"
        " '\"', '\"\"') || '\"' FROM (SELECT step, at FROM funnel_events AS one WHERE one.campaign_id = :campaign"
        " AND one.contact_id = funnel_events.contact_id ORDER BY at, step) AS s) AS steps"
    )
    keys = {"campaign": ":campaign", "after": ":after", "last": ":last"}
    lines = (f"SELECT {line} AS line " + _FROM.format(steps=steps, **keys)).format(**_cells(_sqlite_cell, _sqlite_time))
    lines += subset
    # SQLite before 3.44 has no ORDER BY inside an aggregate. A subquery with ORDER BY under an
    # aggregate is never flattened: it runs as a co-routine handing its rows over in that order
    # (here the index's order, no sort), so group_concat sees them in order; the tests check it.
    # As a BLOB the page reaches Python as bytes: no UTF-8 decoding to str (under the GIL, in the
    # reader's thread) and no encoding back in the event loop.
    return f"SELECT CAST(group_concat(line, '') AS BLOB) FROM ({lines} ORDER BY p.campaign_id, p.contact_id) AS page"


def _postgres_page(subset: str = "") -> str:
    # concat writes NULL as an empty cell: no coalesce per cell.
    line = "concat(" + ", ',', ".join(_CELLS) + ", E'\\r\\n')"
    steps = (
        "SELECT contact_id, '\"{{' || replace(string_agg(to_json(step)::text || ':\"' || "
        + _postgres_time("at").replace("{", "{{").replace("}", "}}")
        + " || '\"', ',' ORDER BY at, step), '\"', '\"\"') || '}}\"' AS steps"
    )
    keys = {"campaign": "%(campaign)s", "after": "%(after)s", "last": "%(last)s"}
    return (f"SELECT string_agg({line}, '' ORDER BY p.contact_id) " + _FROM.format(steps=steps, **keys)).format(
        **_cells(_postgres_cell, _postgres_time)
    ) + subsets.postgres(subset)


SQLITE_PAGE = _sqlite_page()
POSTGRES_PAGE = _postgres_page()
_PAGE_END = (
    "SELECT count(*), max(contact_id) FROM (SELECT p.contact_id FROM campaign_messages AS p"
    " WHERE p.campaign_id = {campaign} AND p.contact_id > {after}{subset}"
    " ORDER BY p.campaign_id, p.contact_id LIMIT {limit}) AS page"
)
SQLITE_PAGE_END = _PAGE_END.format(campaign=":campaign", after=":after", limit=":limit", subset="")
POSTGRES_PAGE_END = _PAGE_END.format(campaign="%(campaign)s", after="%(after)s", limit="%(limit)s", subset="")


@functools.lru_cache(maxsize=64)
def _subset_sql(postgres: bool, subset: str) -> tuple[str, str]:
    """(page end, page) statements of a subset of the contacts (``subsets.Subset.condition``): the
    page end then cuts pages of the subset's rows, no longer an index-only scan."""
    if postgres:
        end = _PAGE_END.format(campaign="%(campaign)s", after="%(after)s", limit="%(limit)s",
                               subset=subsets.postgres(subset))
        return end, _postgres_page(subset)
    return _PAGE_END.format(campaign=":campaign", after=":after", limit=":limit", subset=subset), _sqlite_page(subset)


async def page_end(session: AsyncSession, *, campaign_id: int, after_contact_id: int, limit: int,
                   subset: Subset | None = None) -> tuple[int, int]:
    """(rows, last contact id) of the next page after a contact id: an index-only scan (for everyone)."""
    params = {"campaign": campaign_id, "after": after_contact_id, "limit": limit}
    postgres = is_postgres(session)
    statement = POSTGRES_PAGE_END if postgres else SQLITE_PAGE_END
    if subset is not None and not subset.everyone:
        statement = _subset_sql(postgres, subset.condition())[0]
        params |= subset.params()
    driver = await _driver(session)
    if postgres:
        async with driver.cursor() as cursor:
            await cursor.execute(statement, params)
            rows, last = await cursor.fetchone()
    else:
        async with driver.execute(statement, params) as cursor:
            rows, last = await cursor.fetchone()
    return int(rows), int(last or after_contact_id)


async def page_text(session: AsyncSession, *, campaign_id: int, after_contact_id: int, last_contact_id: int,
                    subset: Subset | None = None) -> bytes:
    """The report lines of the contacts in (after, last] (of the subset), as one UTF-8 text read through
    the driver's own cursor."""
    params: dict[str, Any] = {"campaign": campaign_id, "after": after_contact_id, "last": last_contact_id}
    postgres = is_postgres(session)
    statement = POSTGRES_PAGE if postgres else SQLITE_PAGE
    if subset is not None and not subset.everyone:
        statement = _subset_sql(postgres, subset.condition())[1]
        params |= subset.params()
    driver = await _driver(session)
    if postgres:
        async with driver.cursor() as cursor:
            # A page's estimated cost can pass jit_above_cost (correlated lookups did: 38 ms compiling
            # a 10,000-row page); compiling never pays back on a page this size.
            await cursor.execute("SET LOCAL jit = off")
            await cursor.execute(statement, params)
            (text,) = await cursor.fetchone()
        return text.encode() if text else b""
    async with driver.execute(statement, params) as cursor:
        (page,) = await cursor.fetchone()
    return page or b""


async def _driver(session: AsyncSession) -> Any:
    """The session's psycopg or aiosqlite connection, in the session's transaction."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection
