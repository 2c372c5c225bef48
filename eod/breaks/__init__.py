"""The life of a reconciliation break (CONTRACT section 6a).

`records`: what the close does with the breaks its checks found on D: open the new
ones, age the ones found again, clear the ones it no longer finds. `actions`: what an
operator does: list, acknowledge, resolve (and restore the user's account). Every
change is audited in `eod.recon_break_actions` and published through the outbox
(`eod.break.opened|acknowledged|resolved`) in the transaction that makes it.
"""
