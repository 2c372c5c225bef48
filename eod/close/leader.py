"""One close at a time: an advisory lock elects the leader, a fencing token guards writes.

The lock lives on a dedicated autocommit connection held for the whole close. Each
election bumps `eod.leadership.fencing_token`; every step commit calls `check_fence`
inside its own transaction, so a leader whose lock connection died (and whose token
was superseded by a newer leader) cannot commit anything.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from eod.db import connect
from eod.errors import EodError

LOCK_NAME = "eod-close"
_LOCK_KEY = 0x0E0D_C105


class NotLeader(EodError):
    """Another close holds the lock, or this one lost it."""


@dataclass
class Leadership:
    conn: object
    fencing_token: int
    holder: str

    def release(self) -> None:
        if self.conn.closed:
            return
        with self.conn.cursor() as cur:
            cur.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
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


def check_fence(cur, fencing_token: int) -> None:
    """Inside a step's commit transaction: refuse if a newer leader was elected.

    FOR SHARE makes a concurrent election wait for this commit, so the check and
    the writes it guards are atomic with respect to elections.
    """
    cur.execute(
        "select fencing_token, holder from eod.leadership where lock_name = %s for share",
        (LOCK_NAME,),
    )
    row = cur.fetchone()
    if row is None or row[0] != fencing_token:
        current = f"token {row[0]} held by {row[1]}" if row else "no leader"
        raise NotLeader(
            f"fencing token {fencing_token} is stale ({current}); this close lost the lock"
        )
