"""CSV output: the guard against formula injection (the report export applies the same rule in SQL)."""

from __future__ import annotations

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

