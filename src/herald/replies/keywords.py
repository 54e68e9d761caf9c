"""Opt-out and opt-in keywords: a reply whose whole text is one of them (docs/whatsapp.md, "Opt-out keywords").

Matching ignores case, accents (Unicode NFKD with the combining marks dropped), the spaces around
the text and runs of spaces inside it, and punctuation around it ("Stop." and "¡BAJA!" match), but
never a keyword inside a longer message ("please don't stop"). Each organization has its own lists;
until it sets them, Herald's defaults apply.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.errors import Invalid
from herald.models import Organization

DEFAULT_OPT_OUT = ("STOP", "BAJA", "PARAR", "UNSUBSCRIBE", "SAIR")
DEFAULT_OPT_IN = ("START",)
MAX_KEYWORDS = 50
MAX_LENGTH = 40
_AROUND = " \t\r\n.,;:!¡?¿\"'«»()[]*_~-"


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split()).strip(_AROUND)


@dataclass(frozen=True, slots=True)
class Keywords:
    opt_out: tuple[str, ...]
    opt_in: tuple[str, ...]

    def match(self, text: str | None) -> tuple[str, str] | None:
        """("opt_out" | "opt_in", the keyword as configured) when the whole text is a keyword."""
        if not text:
            return None
        said = normalize(text)
        for action, words in (("opt_out", self.opt_out), ("opt_in", self.opt_in)):
            for word in words:
                if normalize(word) == said:
                    return action, word
        return None


async def keywords_of(session: AsyncSession, *, org_id: int) -> Keywords:
    row = (await session.execute(
        select(Organization.opt_out_keywords, Organization.opt_in_keywords).where(Organization.id == org_id)
    )).one()
    return Keywords(
        tuple(DEFAULT_OPT_OUT if row.opt_out_keywords is None else row.opt_out_keywords),
        tuple(DEFAULT_OPT_IN if row.opt_in_keywords is None else row.opt_in_keywords),
    )


def clean(words: list[str], *, field: str) -> list[str]:
    """Trimmed keywords, duplicates (as matched) dropped; a 422 naming the field for a bad one."""
    if len(words) > MAX_KEYWORDS:
        raise Invalid(f"at most {MAX_KEYWORDS} keywords", field=field)
    kept: list[str] = []
    seen: set[str] = set()
    for i, word in enumerate(words):
        word = " ".join(word.split())
        if not normalize(word):
            raise Invalid("a keyword cannot be empty or only punctuation", field=f"{field}.{i}")
        if len(word) > MAX_LENGTH or "\x00" in word:
            raise Invalid(f"a keyword is at most {MAX_LENGTH} characters", field=f"{field}.{i}")
        if normalize(word) not in seen:
            seen.add(normalize(word))
            kept.append(word)
    return kept


async def save(session: AsyncSession, *, org_id: int, opt_out: list[str] | None, opt_in: list[str] | None) -> Keywords:
    """Replaces the lists given (None keeps one); a word cannot be in both."""
    current = await keywords_of(session, org_id=org_id)
    out = clean(opt_out, field="opt_out_keywords") if opt_out is not None else list(current.opt_out)
    into = clean(opt_in, field="opt_in_keywords") if opt_in is not None else list(current.opt_in)
    both = {normalize(w) for w in out} & {normalize(w) for w in into}
    if both:
        raise Invalid(f"{sorted(both)[0]!r} cannot both opt out and opt in",
                      field="opt_in_keywords" if opt_in is not None else "opt_out_keywords")
    values = {}
    if opt_out is not None:
        values["opt_out_keywords"] = out
    if opt_in is not None:
        values["opt_in_keywords"] = into
    if values:
        await session.execute(update(Organization).where(Organization.id == org_id).values(**values))
    return Keywords(tuple(out), tuple(into))
