"""Citus (distributed Postgres): a local cluster, and how the close lays its tables out on one."""
