"""Versioned schema migrations (`eod db migrate`).

Each file in `versions/` is applied once, in name order, inside its own
transaction, and recorded in `eod.schema_migrations` with its checksum. A file
is SQL (`NNNN_name.sql`) or Python (`NNNN_name.py` with `apply(cursor)`), the
latter for schema derived from lookup data such as the account-state seeds.
Files whose name starts with `R` are repeatable: re-applied whenever their
checksum (for Python ones, `checksum()`) changes, after the versioned ones, or
when a Python one's `pending(cursor)` says it has work.
A session advisory lock keeps two migrators from interleaving.

A version recorded as applied whose file is gone (a retired migration: 0010 and 0011
created the dev kit's `sim` schema, which eod.devkit now applies itself) stays
recorded and is skipped: what it created is left in place, nothing re-applies it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from eod.db import connect

VERSIONS_DIR = Path(__file__).parent / "versions"
_LOCK_KEY = 0x0E0D_0001  # advisory lock id shared by every migrator

_BOOTSTRAP = """
create schema if not exists eod;
create table if not exists eod.schema_migrations (
    version text primary key,
    checksum text not null,
    applied_at timestamptz not null default now()
);
"""


@dataclass(frozen=True)
class Migration:
    path: Path

    @property
    def version(self) -> str:
        return self.path.stem

    @property
    def repeatable(self) -> bool:
        return self.version.startswith("R")

    def _module(self):
        spec = importlib.util.spec_from_file_location(f"eod_migration_{self.version}", self.path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def checksum(self) -> str:
        digest = hashlib.sha256(self.path.read_bytes())
        if self.path.suffix == ".py":
            module = self._module()
            if hasattr(module, "checksum"):
                digest.update(module.checksum().encode())
        return digest.hexdigest()

    def has_work(self, conn) -> bool:
        """Whether an unchanged repeatable Python migration still has work, by its
        `pending(cursor)` when it has one (R0900_citus_layout: a database that became a
        Citus coordinator after the layout was first applied, as a no-op)."""
        if not self.repeatable or self.path.suffix != ".py":
            return False
        pending = getattr(self._module(), "pending", None)
        if pending is None:
            return False
        with conn, conn.cursor() as cur:
            return bool(pending(cur))

    def apply(self, cur) -> None:
        if self.path.suffix == ".sql":
            cur.execute(self.path.read_text())
        else:
            self._module().apply(cur)


def discover() -> list[Migration]:
    files = sorted(p for p in VERSIONS_DIR.iterdir() if p.suffix in (".sql", ".py"))
    versioned = [Migration(p) for p in files if not p.stem.startswith("R")]
    repeatable = [Migration(p) for p in files if p.stem.startswith("R")]
    return versioned + repeatable


def migrate(url: str) -> list[str]:
    """Apply what is pending; return the versions applied (empty when up to date)."""
    conn = connect(url, application_name="eod-migrate")
    applied: list[str] = []
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
            cur.execute(_BOOTSTRAP)
        try:
            with conn.cursor() as cur:
                cur.execute("select version, checksum from eod.schema_migrations")
                done = dict(cur.fetchall())
            conn.commit()
            for migration in discover():
                checksum = migration.checksum()
                if (
                    migration.version in done
                    and (not migration.repeatable or done[migration.version] == checksum)
                    and not migration.has_work(conn)
                ):
                    continue
                with conn, conn.cursor() as cur:
                    migration.apply(cur)
                    cur.execute(
                        """insert into eod.schema_migrations (version, checksum) values (%s, %s)
                           on conflict (version) do update
                           set checksum = excluded.checksum, applied_at = now()""",
                        (migration.version, checksum),
                    )
                applied.append(migration.version)
        finally:
            with conn, conn.cursor() as cur:
                cur.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    finally:
        conn.close()
    return applied
