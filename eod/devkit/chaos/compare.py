"""What a close left behind, in a form two closes of the same date can be compared by.

A `Fingerprint` holds, for the database after a close of D and the events JetStream
holds from it:

- ledger: every entry as (user, account, currency, amount, reference type and id,
  reason, business date, created_by), counted; entry ids, journal ids and the
  posting instant aside (they differ from run to run by design);
- marts: a checksum per relation of schema `marts` over its rows (md5 of the rows'
  text, sorted), columns that hold instants of the run aside;
- por: the proof-of-reserves roots of D;
- freezes: each account transition as (user, from, to, actor, reason), counted, and
  every user's state;
- records: the break records and the date's step records (each step succeeded);
- events by meaning: each delivered outcome event as its subject and payload with
  the run's ids, instants and timings taken out, counted (a retried step's
  `started`/`failed` events and the alert of a failed step are attempts, not outcomes);
- events by id: every event the run's outbox holds is in the stream exactly once
  under its Nats-Msg-Id, and the stream holds nothing else;
- pages: the dedup keys on-call was paged with (a failed step's pages aside).

`differences(reference, other)` lists, per aspect, what is not the same.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eod.db import connect
from eod.devkit.chaos.services import StreamMessage

ASPECTS = ("ledger", "marts", "por", "freezes", "records", "events", "event ids", "pages")

# Keys of an event's payload that name the run rather than what happened.
_RUN_KEYS = {
    "event_id",
    "transition_id",
    "break_id",
    "attempt",
    "attempts",
    "detail",
    "hash",
    "prev_hash",
}
_RUN_SUFFIXES = ("_at", "_s", "seconds")


def _meaning(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(
            sorted(
                (k, _meaning(v))
                for k, v in value.items()
                if k not in _RUN_KEYS and not k.endswith(_RUN_SUFFIXES)
            )
        )
    if isinstance(value, list):
        return tuple(_meaning(v) for v in value)
    return value


def is_attempt_event(subject: str, payload: dict) -> bool:
    """Events about an attempt rather than an outcome: more of them under faults."""
    if subject.endswith((".started", ".failed")) and subject != "eod.recon.failed":
        return True
    return subject == "eod.alert" and str(payload.get("dedup_key", "")).split("/")[-1].startswith(
        "step:"
    )


def events_by_meaning(messages: list[StreamMessage]) -> Counter:
    return Counter(
        (m.subject, _meaning(m.payload))
        for m in messages
        if not is_attempt_event(m.subject, m.payload)
    )


@dataclass
class Fingerprint:
    ledger: Counter = field(default_factory=Counter)
    marts: dict[str, str] = field(default_factory=dict)
    por: list[tuple] = field(default_factory=list)
    freezes: Counter = field(default_factory=Counter)
    states: dict[int, str] = field(default_factory=dict)
    records: list[tuple] = field(default_factory=list)
    steps: list[tuple] = field(default_factory=list)
    events: Counter = field(default_factory=Counter)
    event_ids: list[str] = field(default_factory=list)  # what is wrong, empty when right
    pages: set[str] = field(default_factory=set)


def _marts_checksums(cur) -> dict[str, str]:
    cur.execute(
        """select c.relname, array_agg(a.attname order by a.attnum)
           from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
           where n.nspname = 'marts' and c.relkind in ('r', 'v', 'm', 'p')
             and a.atttypid not in ('timestamptz'::regtype, 'timestamp'::regtype)
           group by c.relname order by c.relname"""
    )
    sums = {}
    for relname, columns in cur.fetchall():
        cols = ", ".join(f'"{c}"' for c in columns)
        cur.execute(
            f"""select count(*), md5(coalesce(string_agg(r, E'\\n' order by r), ''))
                from (select ({cols})::text as r from marts."{relname}") t"""
        )
        count, digest = cur.fetchone()
        sums[relname] = f"{count} rows, md5 {digest}"
    return sums


def take(
    database_url: str,
    business_date: date,
    messages: list[StreamMessage],
    pages: list[dict],
    outbox_after: int,
) -> Fingerprint:
    """The fingerprint of D's close in this database; `outbox_after` is the outbox
    sequence the close started from (events before it were delivered earlier)."""
    fp = Fingerprint()
    conn = connect(database_url, application_name="eod-chaos-compare")
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                """select user_id, account, currency, trim_scale(amount)::text, reference_type,
                          reference_id, reason,
                          case when reference_type = 'staking_payout' then null
                               else business_date end,
                          created_by
                   from exchange.ledger_entries"""
            )
            fp.ledger = Counter(cur.fetchall())
            fp.marts = _marts_checksums(cur)
            cur.execute(
                """select currency, root_hash, root_sum::text, leaf_count,
                          trim_scale(custody_balance)::text, trim_scale(reserve_ratio)::text
                   from marts.proof_of_reserves where business_date = %s order by currency""",
                (business_date,),
            )
            fp.por = cur.fetchall()
            cur.execute(
                """select user_id, from_state::text, to_state::text, actor, reason
                   from exchange.account_state_transitions"""
            )
            fp.freezes = Counter(cur.fetchall())
            cur.execute("select user_id, status::text from exchange.users")
            fp.states = dict(cur.fetchall())
            cur.execute(
                """select check_name, user_id, currency, first_date, last_date,
                          trim_scale(difference)::text, status, resolution
                   from eod.recon_breaks order by 1, 2, 3, 4"""
            )
            fp.records = cur.fetchall()
            cur.execute(
                """select step_name, status from eod.eod_runs where business_date = %s
                   order by 1""",
                (business_date,),
            )
            fp.steps = cur.fetchall()
            cur.execute(
                """select event_id::text, published_at is not null from eod.outbox
                   where seq > %s""",
                (outbox_after,),
            )
            outbox = dict(cur.fetchall())
    finally:
        conn.close()
    fp.events = events_by_meaning(messages)
    ids = Counter(m.msg_id for m in messages)
    doubled = sorted(i for i, n in ids.items() if n > 1)
    lost = sorted(set(outbox) - set(ids))
    foreign = sorted(set(ids) - set(outbox))
    unmarked = sorted(i for i, published in outbox.items() if not published)
    for what, found in (
        ("delivered twice", doubled),
        ("never delivered", lost),
        ("delivered but not in the outbox", foreign),
        ("left unpublished in the outbox", unmarked),
    ):
        if found:
            fp.event_ids.append(f"{len(found)} {what} (e.g. {found[0]})")
    fp.pages = {
        p.get("dedup_key", "")
        for p in pages
        if not str(p.get("dedup_key", "")).split("/")[-1].startswith("step:")
    }
    return fp


def outbox_position(database_url: str) -> int:
    with contextlib.closing(connect(database_url)) as conn, conn.cursor() as cur:
        cur.execute("select coalesce(max(seq), 0) from eod.outbox")
        return cur.fetchone()[0]


def _counter_diff(ref: Counter, got: Counter) -> str | None:
    missing = ref - got
    extra = got - ref
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"{sum(missing.values())} missing (e.g. {next(iter(missing))})")
    if extra:
        parts.append(f"{sum(extra.values())} extra (e.g. {next(iter(extra))})")
    return "; ".join(parts)


def differences(ref: Fingerprint, got: Fingerprint) -> dict[str, str]:
    """{aspect: what differs} for every aspect that is not the same as the reference."""
    out: dict[str, str] = {}
    if diff := _counter_diff(ref.ledger, got.ledger):
        out["ledger"] = diff
    marts = sorted(
        name
        for name in set(ref.marts) | set(got.marts)
        if ref.marts.get(name) != got.marts.get(name)
    )
    if marts:
        name = marts[0]
        out["marts"] = (
            f"{len(marts)} differ, first {name}: {got.marts.get(name)} "
            f"(reference {ref.marts.get(name)})"
        )
    if ref.por != got.por:
        out["por"] = f"roots {got.por} (reference {ref.por})"
    diff = _counter_diff(ref.freezes, got.freezes)
    states = sorted(u for u in ref.states if ref.states[u] != got.states.get(u))
    if diff or states:
        out["freezes"] = diff or f"{len(states)} users in another state (e.g. {states[0]})"
    if ref.records != got.records or ref.steps != got.steps:
        out["records"] = f"steps {got.steps}" if ref.steps != got.steps else "break records differ"
    if diff := _counter_diff(ref.events, got.events):
        out["events"] = diff
    if got.event_ids:
        out["event ids"] = "; ".join(got.event_ids)
    if ref.pages != got.pages:
        out["pages"] = (
            f"never paged: {sorted(ref.pages - got.pages)}; "
            f"paged only here: {sorted(got.pages - ref.pages)}"
        )
    return out


def physical(database_url: str) -> dict[str, str]:
    """Every table's rows with the transaction that wrote each (xmin): any write at all
    changes it, an identical rewrite included. Staging tables (`*_incoming`), scratch
    of a capture in flight, and the simulators' schema are left out."""
    conn = connect(database_url, application_name="eod-chaos-compare")
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                """select n.nspname, c.relname from pg_class c
                   join pg_namespace n on n.oid = c.relnamespace
                   where c.relkind in ('r', 'p') and c.relpersistence = 'p'
                     and n.nspname not in ('pg_catalog', 'information_schema', 'sim')
                     and n.nspname not like 'pg_toast%%'
                     and c.relname not like '%%\\_incoming'
                   order by 1, 2"""
            )
            tables = cur.fetchall()
            sums = {}
            for schema, table in tables:
                cur.execute(
                    f"""select md5(coalesce(string_agg(r, E'\\n' order by r), ''))
                        from (select t.xmin::text || ' ' || t::text as r
                              from "{schema}"."{table}" t) x"""
                )
                sums[f"{schema}.{table}"] = cur.fetchone()[0]
    finally:
        conn.close()
    return sums
