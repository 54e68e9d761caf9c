"""The line where each phone of a CSV first appeared, in 16 to 32 bytes a phone.

An import reports a phone given again further down the file ("line 7: duplicate of line 3"). A
dict of a million phones would cost over 100 MB, half again the import's whole memory budget
(docs/performance.md); here an E.164 phone is its digits as a 64-bit integer, kept with its line
in two flat arrays (open addressing with Fibonacci hashing and linear probing, grown at half full).
"""

from __future__ import annotations

from array import array

_EMPTY = 0  # no E.164 number is 0
_GOLDEN = 11400714819323198485  # 2**64 / φ: spreads consecutive numbers over the table
_MASK64 = (1 << 64) - 1


class FirstLines:
    def __init__(self, bits: int = 12) -> None:
        self._bits = bits
        self._keys = array("q", bytes(8 << bits))
        self._lines = array("q", bytes(8 << bits))
        self._used = 0

    def _slot(self, key: int) -> int:
        return ((key * _GOLDEN) & _MASK64) >> (64 - self._bits)

    def first(self, phone: str, line: int) -> int | None:
        """The line ``phone`` (E.164) was first seen on, or None (and ``line`` is remembered)."""
        key = int(phone.removeprefix("+"))
        keys, mask = self._keys, len(self._keys) - 1
        slot = self._slot(key)
        while (found := keys[slot]) != _EMPTY:
            if found == key:
                return int(self._lines[slot])
            slot = (slot + 1) & mask
        keys[slot], self._lines[slot] = key, line
        self._used += 1
        if self._used * 2 > len(keys):
            self._grow()
        return None

    def _grow(self) -> None:
        old_keys, old_lines = self._keys, self._lines
        self._bits += 1
        self._keys = array("q", bytes(8 << self._bits))
        self._lines = array("q", bytes(8 << self._bits))
        keys, mask = self._keys, len(self._keys) - 1
        for index, key in enumerate(old_keys):
            if key != _EMPTY:
                slot = self._slot(key)
                while keys[slot] != _EMPTY:
                    slot = (slot + 1) & mask
                keys[slot], self._lines[slot] = key, old_lines[index]
