"""Accounts: state transitions, their audit, compliance hooks, closures, adjustments.

The rules live in the database (see fsm/sql/); this package is the Python way in.
Every function that changes something takes a cursor and works in the caller's
transaction, so a caller can combine a change with its own writes atomically.
"""
