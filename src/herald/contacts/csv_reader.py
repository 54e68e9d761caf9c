"""Reading a contacts CSV row by row in bounded memory, each row checked and located.

Rows come out as ``ContactRow`` (valid) or ``Rejection`` (line + reason). Line numbers are the
file's physical lines (header = 1) where a row starts, also when quoted fields span lines.
Bytes are decoded line by line so one line of bad UTF-8 rejects its row, not the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from herald.contacts.e164 import to_e164
from herald.contacts.first_lines import FirstLines
from herald.contacts.rules import (
    counts_problem,
    name_problem,
    tag_problem,
    timezone_problem,
    user_id_problem,
    valued_tag_key_problem,
    valued_tag_problem,
)
from herald.contacts.upsert import ContactRow
from herald.kit.errors import Invalid

BOM = b"\xef\xbb\xbf"
# One physical line may not hold more than this; csv's own field limit (128 KiB) bounds the rest.
MAX_LINE_BYTES = 1024 * 1024
VALUED_TAG_PREFIX = "vt:"
# ``wa_user_id``: the WhatsApp user id (BSUID) of a user who may hide their phone behind a username;
# a row needs a phone, a wa_user_id or both (docs/whatsapp.md, "Username users").
PLAIN_COLUMNS = ("phone", "name", "tags", "timezone", "wa_user_id")
TAG_SEPARATOR = ";"


class ReadableLines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A row whose phone an earlier row of the file already gave: imported over it (later rows win)."""

    line: int
    first_line: int


@dataclass(slots=True)
class RowBatch:
    rows: list[ContactRow] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # where each of ``rows`` starts
    rejections: list[Rejection] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    done: bool = False
    bytes_read: int = 0  # of the file, up to the end of this batch (for a progress bar)


class _Lines:
    """Decoded physical lines of a binary stream; remembers which lines were unreadable and why."""

    def __init__(self, stream: ReadableLines) -> None:
        self._stream = stream
        self.number = 0
        self.bytes_read = 0
        self.problems: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._stream.readline(MAX_LINE_BYTES)
        if not raw:
            raise StopIteration
        self.number += 1
        self.bytes_read += len(raw)
        if self.number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            self._skip_rest_of_line()
            self.problems[self.number] = f"line is longer than {MAX_LINE_BYTES // 1024} KiB"
            return "\n"
        if b"\x00" in raw:
            # PostgreSQL cannot store it (its COPY refused the whole file): the row is rejected, on
            # SQLite alike. Removed so that the csv parser reads the rest as it would have.
            self.problems[self.number] = "line contains a NUL character"
            raw = raw.replace(b"\x00", b"")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.problems[self.number] = "line is not valid UTF-8 text"
            # Decoded anyway so the csv parser keeps track of quotes across lines.
            return raw.decode("utf-8", errors="replace")

    def _skip_rest_of_line(self) -> None:
        while chunk := self._stream.readline(MAX_LINE_BYTES):
            self.bytes_read += len(chunk)
            if chunk.endswith(b"\n"):
                return

    def problem_between(self, first: int, last: int) -> str | None:
        if not self.problems:
            return None
        found = next((self.problems[n] for n in range(first, last + 1) if n in self.problems), None)
        for n in [n for n in self.problems if n <= last]:
            del self.problems[n]
        return found


@dataclass(frozen=True, slots=True)
class Columns:
    """Where each known column sits in a row."""

    width: int
    phone: int | None
    name: int | None
    tags: int | None
    timezone: int | None
    valued_tags: tuple[tuple[str, int], ...]
    wa_user_id: int | None = None


def _delimiter(header: str) -> str:
    # Sniffing the header alone is enough: it holds only column names, so whichever of ',' and ';'
    # appears there separates fields (a one-column "phone" file reads the same either way).
    return ";" if header.count(";") > header.count(",") else ","


def _columns(names: list[str]) -> Columns:
    positions: dict[str, int] = {}
    valued: list[tuple[str, int]] = []
    unknown: list[str] = []
    for index, raw in enumerate(names):
        name = raw.strip()
        lowered = name.lower()
        if lowered.startswith(VALUED_TAG_PREFIX):
            key = name[len(VALUED_TAG_PREFIX) :].strip()
            if problem := valued_tag_key_problem(key):
                # A header names the columns of every row: the whole file is refused, naming the column.
                shown = name if len(name) <= 60 else name[:60] + "…"
                message = f"column {index + 1} ('{shown}') of the header: {problem}"
                raise Invalid(message, field="file", details=[{"field": "file", "message": message, "column": shown}])
            valued.append((key, index))
        elif lowered in PLAIN_COLUMNS:
            if lowered in positions:
                raise Invalid(f"column '{lowered}' appears twice in the header", field="file")
            positions[lowered] = index
        else:
            unknown.append(name)
    _check_header(positions, valued, unknown)
    return Columns(
        width=len(names), phone=positions.get("phone"), name=positions.get("name"), tags=positions.get("tags"),
        timezone=positions.get("timezone"), valued_tags=tuple(valued), wa_user_id=positions.get("wa_user_id"),
    )


def _check_header(positions: dict[str, int], valued: list[tuple[str, int]], unknown: list[str]) -> None:
    expected = "expected phone, name, tags, timezone, wa_user_id and vt:KEY columns (phone or wa_user_id is required)"
    if unknown:
        listed = ", ".join(f"'{u}'" for u in unknown)
        raise Invalid(
            f"unknown columns in the header: {listed}; {expected}",
            field="file",
            details=[{"field": "file", "message": "unknown columns", "unknown_columns": unknown}],
        )
    if "phone" not in positions and "wa_user_id" not in positions:
        raise Invalid(f"the header has no 'phone' column; {expected}", field="file")
    keys = [k for k, _ in valued]
    if len(set(keys)) != len(keys):
        raise Invalid("a vt:KEY column appears twice in the header", field="file")


class ContactCsvReader:
    """Reads the header at once (422 if it is wrong), then the rows batch by batch."""

    def __init__(self, stream: ReadableLines) -> None:
        self._lines = _Lines(stream)
        header = next(self._lines, "")
        if self._lines.problems:
            raise Invalid("the header line is not valid UTF-8 text", field="file")
        if not header.strip():
            raise Invalid("the file is empty: expected a header line such as phone,name,tags", field="file")
        delimiter = _delimiter(header)
        self.columns = _columns(next(csv.reader([header], delimiter=delimiter)))
        self._reader = csv.reader(self._lines, delimiter=delimiter)
        self._last_line = 1
        self._done = False
        self._first_lines = FirstLines()

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read

    def next_batch(self, size: int) -> RowBatch:
        """Up to ``size`` rows (valid or not); ``done`` once the file is exhausted."""
        batch = RowBatch()
        while not self._done and len(batch.rows) + len(batch.rejections) < size:
            self._read_one(batch)
        batch.done = self._done
        batch.bytes_read = self._lines.bytes_read
        return batch

    def _read_one(self, batch: RowBatch) -> None:
        first = self._last_line + 1
        try:
            fields = next(self._reader)
        except StopIteration:
            self._done = True
            return
        except csv.Error as exc:
            self._last_line = self._lines.number
            batch.rejections.append(Rejection(first, f"unreadable CSV: {exc}"))
            return
        self._last_line = self._lines.number
        if problem := self._lines.problem_between(first, self._last_line):
            batch.rejections.append(Rejection(first, problem))
        elif not any(map(str.strip, fields)):
            return  # blank lines and rows of empty cells carry nothing
        else:
            outcome = parse_row(fields, self.columns)
            if isinstance(outcome, str):
                batch.rejections.append(Rejection(first, outcome))
            else:
                batch.rows.append(outcome)
                batch.lines.append(first)
                if outcome.phone and (earlier := self._first_lines.first(outcome.phone, first)) is not None:
                    batch.duplicates.append(Duplicate(first, earlier))


def parse_row(fields: list[str], columns: Columns) -> ContactRow | str:
    """A valid row, or the reason it is rejected."""
    if len(fields) != columns.width:
        return f"expected {columns.width} fields, found {len(fields)}"
    raw_phone = _cell(fields, columns.phone)
    user_id = _cell(fields, columns.wa_user_id) or None
    if user_id is not None and (problem := user_id_problem(user_id)):
        return problem
    if not raw_phone:
        if user_id is None:
            return "phone is empty" if columns.wa_user_id is None else "phone and wa_user_id are empty"
        row = ContactRow(phone=None, phone_raw=None, wa_user_id=user_id)
        return _fill_optional(row, fields, columns) or row
    phone = to_e164(raw_phone)
    if phone is None:
        shown = raw_phone if len(raw_phone) <= 40 else raw_phone[:40] + "…"
        return f"invalid phone '{shown}'"
    row = ContactRow(phone=phone, phone_raw=raw_phone, wa_user_id=user_id)
    return _fill_optional(row, fields, columns) or row


def _cell(fields: list[str], index: int | None) -> str:
    return fields[index].strip() if index is not None else ""


def _fill_optional(row: ContactRow, fields: list[str], columns: Columns) -> str | None:
    """Empty cells mean "not given": they never erase what a contact already has."""
    if name := _cell(fields, columns.name):
        if problem := name_problem(name):
            return problem
        row.name = name
    if timezone := _cell(fields, columns.timezone):
        if problem := timezone_problem(timezone):
            return problem
        row.timezone = timezone
    tags = [t.strip() for t in _cell(fields, columns.tags).split(TAG_SEPARATOR) if t.strip()]
    for tag in tags:
        if problem := tag_problem(tag):
            return problem
    row.tags = list(dict.fromkeys(tags))
    for key, index in columns.valued_tags:
        if value := _cell(fields, index):
            if problem := valued_tag_problem(key, value):
                return problem
            row.valued_tags[key] = value
    if counted := counts_problem(len(row.tags), len(row.valued_tags)):
        return counted[1]
    return None
