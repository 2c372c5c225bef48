"""The chaos run: faults injected into real closes of a small generated exchange, each
compared with a clean reference close (`eod bench chaos`, the `chaos` test tier).

services: a private Postgres and nats-server to crash and stop; strike: the named
points of a close where a fault strikes; child: a close in a process of its own,
struck there; harness: the exchange, its reference close and a fresh copy per
scenario; compare: the fingerprint of a close and its differences; scenarios: the
experiments; table: the table of faults they print.
"""
