"""A private Postgres instance a test may crash: never the machine's.

It is pgserver's Postgres 16 on a data folder of the test's own (as root, pgserver
runs it as its own system user), reached through a Unix socket. `crash()` stops it
with `pg_ctl -m immediate` (no shutdown checkpoint: on the next start Postgres
recovers from its WAL, as after a power cut, and empties every unlogged table) and
starts it again.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import psycopg2

from eod.db import with_database
from eod.migrations import migrate


class PrivatePostgres:
    def __init__(self) -> None:
        import pgserver

        # Not under pytest's tmp_path: pytest makes its base folder private again at
        # every session's start (another session may start meanwhile), and as root
        # pg_ctl runs as pgserver's own user, which must reach the data folder.
        self.root = Path(tempfile.mkdtemp(prefix="eod-private-pg-"))
        self.root.chmod(0o711)
        self.data_dir = self.root / "pgdata"
        self.server = pgserver.get_server(self.data_dir, cleanup_mode="delete")

    @property
    def url(self) -> str:
        return self.server.get_uri()

    def create_database(self, name: str) -> str:
        """A new, migrated database; its URL."""
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with contextlib.closing(conn), conn.cursor() as cur:
            cur.execute(f'create database "{name}"')
        url = with_database(self.url, name)
        migrate(url)
        return url

    def crash(self) -> None:
        """An immediate stop (a crash, to Postgres), then a start: recovery runs."""
        from pgserver._commands import pg_ctl

        user = self.server.system_user
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.data_dir, user=user)
        self.server.ensure_postgres_running()

    def stop(self) -> None:
        self.server.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)
