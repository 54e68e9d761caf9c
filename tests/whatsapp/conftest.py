from __future__ import annotations

from pathlib import Path

CORPUS_DIR = Path(__file__).parent / "corpus"
EXPECTED_FINAL_STATES = "expected_final_states.json"


def corpus_files() -> list[Path]:
    """Every webhook body in the corpus (not the expectations file)."""
    return sorted(p for p in CORPUS_DIR.glob("*.json") if p.name != EXPECTED_FINAL_STATES)


def corpus_bytes(name: str) -> bytes:
    return (CORPUS_DIR / name).read_bytes()
