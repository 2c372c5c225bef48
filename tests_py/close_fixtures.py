"""A generated exchange with its simulators, wired for an in-process close."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date

import psycopg2

from eod.config import Settings
from eod.devkit.generate import Options, generate
from eod.devkit.simulators import start_simulators
from eod.devkit.simulators.pager import PagerSimulator

START = date(2026, 11, 1)
POR_SECRET = "close-test-por-secret"


@dataclass
class Exchange:
    db_url: str
    pager: PagerSimulator
    sims: object
    dates: list[date]

    def fetch(self, sql: str, params=None):
        with psycopg2.connect(self.db_url) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def scalar(self, sql: str, params=None):
        return self.fetch(sql, params)[0][0]


@contextlib.contextmanager
def running_exchange(db_url, nats_url, monkeypatch, tmp_path, *, days=2, **faults):
    opts = Options(
        seed=11,
        users=120,
        days=days,
        trades_per_day=300,
        start=START,
        cutover=Settings.from_env().cutover,
        registry_days=days,
        **faults,
    )
    generate(db_url, opts)
    sims = start_simulators(db_url, nats_url=nats_url)
    pager = PagerSimulator().start()
    env = {
        **sims.environment(),
        "EOD_DATABASE_URL": db_url,
        "NATS_URL": nats_url,
        "EOD_PAGER_URL": pager.url,
        "EOD_PAGER_ROUTING_KEY": "test-routing-key",
        "EOD_POR_SECRET": POR_SECRET,
        "EOD_STATE_DIR": str(tmp_path / "state"),
        "EOD_DBT_TARGET_PATH": str(tmp_path / "dbt-target"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        yield Exchange(db_url, pager, sims, opts.dates)
    finally:
        pager.stop()
        sims.stop()
