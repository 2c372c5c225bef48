"""Reading the account-state seeds (the machine's one source of truth)."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"
STATES_CSV = SEEDS_DIR / "account_states.csv"
TRANSITIONS_CSV = SEEDS_DIR / "account_transitions.csv"
SQL_DIR = Path(__file__).resolve().parent / "sql"


@dataclass(frozen=True)
class StateRow:
    state: str
    can_trade: bool
    can_withdraw: bool
    is_terminal: bool


@dataclass(frozen=True)
class TransitionRow:
    from_state: str
    to_state: str
    subject: str
    guard: str | None


def _bool(text: str, where: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"{where}: expected true or false, got {text!r}")
    return value == "true"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_states(path: Path = STATES_CSV) -> list[StateRow]:
    return [
        StateRow(
            state=row["state"].strip(),
            can_trade=_bool(row["can_trade"], f"{path.name} {row['state']}.can_trade"),
            can_withdraw=_bool(row["can_withdraw"], f"{path.name} {row['state']}.can_withdraw"),
            is_terminal=_bool(row["is_terminal"], f"{path.name} {row['state']}.is_terminal"),
        )
        for row in _rows(path)
    ]


def load_transitions(path: Path = TRANSITIONS_CSV) -> list[TransitionRow]:
    return [
        TransitionRow(
            from_state=row["from_state"].strip(),
            to_state=row["to_state"].strip(),
            subject=row["subject"].strip(),
            guard=(row.get("guard") or "").strip() or None,
        )
        for row in _rows(path)
    ]


def sql_files() -> list[Path]:
    """The machine's plpgsql, applied in name order."""
    return sorted(SQL_DIR.glob("*.sql"))


def fingerprint() -> str:
    """A digest of everything the database derives from: seeds and plpgsql."""
    digest = hashlib.sha256()
    for path in (STATES_CSV, TRANSITIONS_CSV, *sql_files()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
