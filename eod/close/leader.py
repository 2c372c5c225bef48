"""One close at a time: an advisory lock elects the leader, a fencing token guards writes.

The lock lives on a dedicated autocommit connection held for the whole close. Each
election bumps `eod.leadership.fencing_token`; every transaction that writes for a
step checks it (`check_fence` here, the `check_fence` pre-hook in every dbt model,
both the SQL function eod.check_fence), so a leader whose lock connection died (and
whose token was superseded by a newer leader) cannot commit anything: not a capture,
a model, a proof of reserves, a posting, a freeze or a record.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psycopg2

from eod.db import connect
from eod.errors import EodError

LOCK_NAME = "eod-close"
_LOCK_KEY = 0x0E0D_C105


class NotLeader(EodError):
    """Another close holds the lock, or this one lost it."""


class Deposed(NotLeader):
    """This close lost its lock and a newer leader was elected: it may write nothing."""


@dataclass
class Leadership:
    conn: object
    fencing_token: int
    holder: str

    def release(self) -> None:
        if self.conn.closed:
            return
        try:
            with self.conn.cursor() as cur:
                cur.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
        except psycopg2.Error:
            pass  # the lock connection died: its lock went with it
        finally:
            self.conn.close()

    def __enter__(self) -> Leadership:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder_of_lock(cur) -> str:
    cur.execute(
        """select a.pid, a.application_name, coalesce(a.client_addr::text, 'local'),
                  a.backend_start
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
           where l.locktype = 'advisory' and l.granted
             and l.objid = (%s::bigint & x'ffffffff'::bigint)::oid
             and l.database = (select oid from pg_database where datname = current_database())""",
        (_LOCK_KEY,),
    )
    row = cur.fetchone()
    if not row:
        return "an unknown session"
    pid, app, addr, since = row
    return (
        f"{app or 'a session'} (backend pid {pid}, from {addr}, since {since:%Y-%m-%d %H:%M:%S%z})"
    )


def _refuse_transaction_pooling(cur) -> None:
    """A transaction-pooling proxy hands each transaction a different backend, which
    would silently drop a session advisory lock; refuse to elect through one."""
    cur.execute("select pg_backend_pid()")
    first = cur.fetchone()[0]
    for _ in range(3):
        cur.execute("select pg_backend_pid()")
        if cur.fetchone()[0] != first:
            raise NotLeader(
                "the lock connection goes through a transaction-pooling proxy; "
                "point EOD_DATABASE_URL at Postgres directly or at a session-pooled port"
            )


def acquire(database_url: str, business_date=None) -> Leadership:
    """Become the leader or raise NotLeader naming the holder."""
    holder = f"{socket.gethostname()}:{os.getpid()}"
    conn = connect(database_url, application_name=f"eod-close-leader {holder}", autocommit=True)
    try:
        with conn.cursor() as cur:
            _refuse_transaction_pooling(cur)
            cur.execute("select pg_try_advisory_lock(%s)", (_LOCK_KEY,))
            if not cur.fetchone()[0]:
                what = f" for {business_date}" if business_date else ""
                raise NotLeader(f"another close{what} is running: held by {_holder_of_lock(cur)}")
            cur.execute(
                """insert into eod.leadership (lock_name, fencing_token, holder)
                   values (%s, 1, %s)
                   on conflict (lock_name) do update
                   set fencing_token = eod.leadership.fencing_token + 1,
                       holder = excluded.holder, elected_at = now()
                   returning fencing_token""",
                (LOCK_NAME, holder),
            )
            token = cur.fetchone()[0]
    except BaseException:
        conn.close()
        raise
    return Leadership(conn=conn, fencing_token=token, holder=holder)


# SQLSTATE of eod.check_fence's refusal, and the words of its message (what a dbt
# node's error carries of it)
FENCE_SQLSTATE = "EOD01"
FENCE_WORDS = "this close lost the lock"


def check_fence(cur, fencing_token: int) -> None:
    """Inside a transaction that writes for a step: raise NotLeader if a newer leader
    was elected. The transaction is left aborted; the caller's rollback follows."""
    try:
        cur.execute("select eod.check_fence(%s)", (fencing_token,))
    except psycopg2.Error as exc:
        if exc.pgcode == FENCE_SQLSTATE:
            raise Deposed(exc.diag.message_primary) from None
        raise


def deposed(message: str | None) -> str | None:
    """The fencing refusal in an error text (a dbt node's message), or None."""
    for line in (message or "").splitlines():
        if FENCE_WORDS in line:
            return line.strip()
    return None
