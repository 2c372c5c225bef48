"""What the close of D can see of the ledger (CONTRACT section 6, "Late entries").

The close records, once per date, the snapshot under which it first reads the ledger
(eod.close_snapshots). The ledger models, the late entries mart and the seal count
D's entries by it (eod.is_counted_on_time, eod.ledger_entries_late), and the trading
models D's trades (eod.trades_late), so a re-run, a later rebuild of D and `eod seal
verify` count exactly what D's close counted; what is committed after it is the next
close's late entry or trade. Kept on re-runs: the first one stands.
"""

from __future__ import annotations

from datetime import date


def record_close_snapshot(cur, business_date: date) -> bool:
    """Record the snapshot D's close reads the ledger under, unless D has one; whether
    this call recorded it. Run in the close's fenced transaction (StepLedger)."""
    cur.execute(
        """insert into eod.close_snapshots (business_date, snapshot)
           values (%s, pg_current_snapshot())
           on conflict (business_date) do nothing""",
        (business_date,),
    )
    return cur.rowcount == 1
