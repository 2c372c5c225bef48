"""Hand-written SQL floors for a day's work, timed step by step.

The models bench (`eod bench models`) has two floors, both plain SQL into temporary
tables, with none of dbt's per-node work, tests or persistence:

- `AGGREGATES`: the minimal aggregate queries over the day's trades and ledger
  (fees and volumes, ledger movements, engine against ledger).
- `SAME_OUTPUTS`: the least SQL that computes what the marts hold for the day from
  the same inputs and the same carried state: legs priced in USDT, fees, the 1- and
  30-day volumes and tiers, weighted-average cost and P&L (the fold is the same
  aggregate), ledger balances carried from D-1, the fee journal, the snapshots with
  their leaf hashes, and the engine/ledger comparison.

Both need D-1 to have been built (they read the carried state the models wrote).
The close bench (`eod bench close`) times two floors likewise: `CLOSE`, the aggregates
plus landing the registry, summing custody and hashing and sorting the
proof-of-reserves leaves; and `CLOSE_SAME_WORK`, `SAME_OUTPUTS` plus landing the
registry, summing custody, posting the fee journal and sorting the leaves.
"""

from __future__ import annotations

import time
from datetime import date

from eod.db import session

AGGREGATES = {
    "fees_and_volumes": """
        create temporary table floor_fees as
        select user_id, fee_currency, sum(fee) as fees, count(*) as legs, sum(volume) as volume
        from (
            select maker_user_id as user_id, fee_currency, maker_fee as fee,
                   qty * price as volume
            from exchange.trades where executed_at >= %(start)s and executed_at < %(end)s
            union all
            select taker_user_id, fee_currency, taker_fee, qty * price
            from exchange.trades where executed_at >= %(start)s and executed_at < %(end)s
        ) legs
        group by user_id, fee_currency""",
    "ledger_movements": """
        create temporary table floor_ledger as
        select user_id, currency, sum(amount) as movement
        from exchange.ledger_entries
        where business_date = %(day)s and account = 'user'
        group by user_id, currency""",
    "engine_against_ledger": """
        select count(*)
        from (select * from eod.me_balances where business_date = %(day)s) me
        full outer join floor_ledger l using (user_id, currency)""",
}

SAME_OUTPUTS = {
    "marks": """
        create temporary table s_marks as
        select c.currency,
               (select price from exchange.mark_prices m where m.currency = c.currency
                  and m.as_of < %(end)s order by as_of desc limit 1) as mark,
               (select price from exchange.mark_prices m where m.currency = c.currency
                  and m.as_of < %(start)s order by as_of desc limit 1) as previous
        from exchange.currencies c""",
    "legs": """
        create temporary table s_legs as
        select t.trade_id, t.executed_at, l.user_id, l.role, l.side, t.base, t.qty,
               t.price * coalesce(q.mark, 1) as price_usdt,
               t.qty * t.price * coalesce(q.mark, 1) as volume_usdt,
               l.fee, t.fee_currency
        from exchange.trades t
        left join s_marks q on q.currency = t.quote and t.quote <> 'USDT'
        cross join lateral (values
            (t.maker_user_id, 'maker', case t.taker_side when 'buy' then 'sell' else 'buy' end,
             t.maker_fee),
            (t.taker_user_id, 'taker', t.taker_side, t.taker_fee)
        ) as l (user_id, role, side, fee)
        where t.executed_at >= %(start)s and t.executed_at < %(end)s""",
    "fees": """
        create temporary table s_fees as
        select f.*, f.total * coalesce(m.mark, 1) as total_usdt
        from (
            select user_id, fee_currency as currency,
                   sum(fee) filter (where role = 'maker') as maker,
                   sum(fee) filter (where role = 'taker') as taker,
                   sum(fee) as total, count(distinct trade_id) as trades
            from s_legs group by user_id, fee_currency
        ) f
        left join s_marks m on m.currency = f.currency""",
    "volumes_and_tiers": """
        create temporary table s_tiers as
        select v.user_id, v.volume_1d, v.volume_30d, t.tier
        from (
            select user_id, sum(volume_usdt) filter (where d = %(day)s) as volume_1d,
                   sum(volume_usdt) as volume_30d
            from (
                select %(day)s::date as d, user_id, sum(volume_usdt) as volume_usdt
                from s_legs group by user_id
                union all
                select business_date, user_id, volume_usdt
                from intermediate.int_user_volumes_aggregated
                where business_date between %(day)s::date - 29 and %(day)s::date - 1
            ) daily
            group by user_id
        ) v
        cross join lateral (
            select tier from reference.fee_schedule s where s.threshold_usdt <= v.volume_30d
            order by s.threshold_usdt desc limit 1
        ) t""",
    "cost_and_pnl": """
        create temporary table s_pnl as
        with carried as (
            select user_id, currency, position_qty, avg_cost from marts.fct_daily_pnl
            where business_date = %(day)s::date - 1
        ),
        folded as (
            select l.user_id, l.base as currency,
                   eod.weighted_average_cost(
                       l.side, l.qty, l.price_usdt, coalesce(m.previous, l.price_usdt), true,
                       c.position_qty, c.avg_cost
                       order by l.executed_at, l.trade_id, l.role) as state
            from s_legs l
            left join carried c on c.user_id = l.user_id and c.currency = l.base
            left join s_marks m on m.currency = l.base
            group by l.user_id, l.base
        )
        select coalesce(f.user_id, c.user_id) as user_id,
               coalesce(f.currency, c.currency) as currency,
               coalesce(f.state[1], c.position_qty) as position_qty,
               coalesce(f.state[2], c.avg_cost) as avg_cost,
               coalesce(f.state[3], 0) as realised,
               coalesce(f.state[1], c.position_qty) * (m.mark - coalesce(f.state[2], c.avg_cost))
                   as unrealised
        from folded f
        full join carried c on c.user_id = f.user_id and c.currency = f.currency
        left join s_marks m on m.currency = coalesce(f.currency, c.currency)
        where f.user_id is not null or c.position_qty > 0""",
    "fee_journal": """
        create temporary table s_fee_journal as
        select user_id, 'user' as account, currency, -total as amount
        from s_fees where total <> 0
        union all
        select null, 'house:fee_revenue', currency, sum(total) from s_fees group by currency""",
    "ledger_balances": """
        create temporary table s_ledger as
        select user_id, currency, sum(amount) as balance
        from (
            select user_id, currency, ledger_total as amount
            from intermediate.int_me_ledger_compared
            where business_date = %(day)s::date - 1 and ledger_total <> 0
            union all
            select user_id, currency, amount from exchange.ledger_entries
            where business_date = %(day)s and account = 'user'
              and reference_type <> 'fee_journal'
            union all
            select user_id, currency, amount from s_fee_journal where account = 'user'
        ) m
        group by user_id, currency
        having sum(amount) <> 0""",
    "snapshots_with_leaves": """
        create temporary table s_snapshots as
        with balances as (
            select * from eod.me_balances where business_date = %(day)s
        ),
        nonces as (
            select * from eod.por_nonces(
                %(day)s, array(select distinct user_id from balances))
        )
        select b.user_id, b.currency, b.total, b.locked, b.available,
               eod.por_leaf(n.nonce, b.user_id, b.currency,
                   trunc(greatest(b.total, 0) * power(10::numeric, c.decimals))) as leaf_hash
        from balances b
        join exchange.currencies c using (currency)
        join nonces n using (user_id)""",
    "engine_against_ledger": """
        create temporary table s_recon as
        select user_id, currency, coalesce(s.total, 0) - coalesce(l.balance, 0) as difference
        from s_snapshots s
        full join s_ledger l using (user_id, currency)
        where coalesce(s.total, 0) <> coalesce(l.balance, 0)""",
}


# The close's work written by hand, as one would with no framework: land the registry,
# aggregate the day's fills, move the ledger balances, compare, sum custody, hash and
# sort the proof-of-reserves leaves.
CLOSE = {
    "capture": """
        create temporary table floor_registry as
        select * from sim.me_registry where business_date = %(day)s""",
    "fees_and_volumes": AGGREGATES["fees_and_volumes"],
    "ledger_movements": AGGREGATES["ledger_movements"],
    "recon": """
        select count(*) from floor_registry
        full join floor_ledger using (user_id, currency)""",
    "custody": """
        select currency, sum(balance_units) from eod.custody_balances
        where business_date = %(day)s group by 1""",
    "por_leaves": """
        select count(*) from (
            select encode(sha256(convert_to('leaf|' || user_id || '|' || currency || '|'
                   || trunc(greatest(total, 0) * 1e8)::text, 'UTF8')), 'hex') as h
            from floor_registry order by 1) s""",
}


# The close's whole work written by hand, as `SAME_OUTPUTS` is for the models: land the
# registry, compute every mart's figures for the day (legs, fees, volumes and tiers,
# cost and P&L, the fee journal, carried ledger balances, snapshots with leaf hashes,
# engine against ledger), sum custody, post the fee journal into the ledger (two legs
# per user and currency, through the ledger's own constraints and balance trigger;
# rolled back with the rest), and sort each currency's leaves into the trees' order
# (every snapshot row is a leaf).
# Still left out: the staking payouts, the trees' inner nodes, the validations, the
# step records, events and pages.
CLOSE_SAME_WORK = {
    "capture": CLOSE["capture"],
    **SAME_OUTPUTS,
    "custody": CLOSE["custody"],
    # checked per statement, as the close's posting declares (eod.close.postings)
    "post_fee_journal": """
        set local exchange.journals_whole_per_statement = on;
        insert into exchange.ledger_entries
            (journal_id, user_id, account, currency, amount, reference_type, reference_id,
             business_date, effective_at, created_by)
        select md5('floor|' || f.user_id || '|' || f.currency)::uuid, leg.user_id,
               leg.account, f.currency, leg.amount, 'fee_journal',
               'floor:' || f.user_id || ':' || f.currency, %(day)s, %(end)s, 'floor'
        from s_fees f
        cross join lateral (values
            (f.user_id, 'user', -f.total),
            (null::bigint, 'house:fee_revenue', f.total)
        ) as leg (user_id, account, amount)
        where f.total <> 0""",
    "por_leaves_sorted": """
        select count(*) from (
            select currency, leaf_hash from s_snapshots
            order by currency, leaf_hash collate "C", user_id) s""",
}


def timed(url: str, day: date, cutover, steps: dict[str, str]) -> dict[str, float]:
    """Run `steps` in one transaction (rolled back) and return each step's seconds."""
    start, end = cutover.window(day)
    params = {"day": day, "start": start, "end": end}
    times: dict[str, float] = {}
    with session(url) as conn:
        with conn.cursor() as cur:
            # the same work_mem dbt's sessions get (eod.dbt.DBT_PGOPTIONS)
            cur.execute("set local work_mem = '256MB'")
            for name, query in steps.items():
                began = time.perf_counter()
                cur.execute(query, params)
                times[name] = round(time.perf_counter() - began, 3)
        conn.rollback()  # a measurement leaves nothing behind
    return times
