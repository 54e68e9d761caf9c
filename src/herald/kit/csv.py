"""CSV output: a guard against formula injection and a writer that streams rows as encoded chunks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# Spreadsheets evaluate a cell starting with these as a formula (tab and CR too: some strip them
# first). OWASP's advice: prefix such cells with a quote so they are shown as text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def guard_cell(value: str | None) -> str:
    """A text cell safe to open in a spreadsheet; None becomes an empty cell."""
    if not value:
        return ""
    if value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class CsvChunkWriter:
    """Turns batches of rows into UTF-8 chunks of a CSV file, holding at most one batch in memory."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        # lineterminator "\r\n" is RFC 4180; QUOTE_MINIMAL quotes commas, quotes and newlines.
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def chunk(self, rows: Iterable[Sequence[object]]) -> bytes:
        self._writer.writerows(rows)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8")

    def header(self, columns: Sequence[str]) -> bytes:
        return self.chunk([columns])
