"""`file://` registry snapshots: DIR/YYYY-MM-DD.ndjson in the engine's NDJSON format."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from eod.db import connect
from eod.devkit.schema import ensure_schema
from eod.devkit.simulators.registry import snapshot_lines
from eod.devkit.simulators.state import NotGenerated, SimState
from eod.errors import InputError


def export_snapshots(database_url: str, directory: Path, dates: list[date] | None = None):
    """Write one file per stored registry date (or per date asked); returns the paths."""
    state = SimState(database_url)
    conn = connect(database_url, application_name="eod-simulator-export")
    try:
        with conn.cursor() as cur:
            ensure_schema(cur)
        conn.commit()
        try:
            gen = state.generation(conn)
        except NotGenerated as exc:
            raise InputError(str(exc)) from None
        with conn.cursor() as cur:
            cur.execute("select business_date from sim.me_snapshots order by 1")
            stored = [row[0] for row in cur.fetchall()]
        conn.commit()
        wanted = dates or stored
        missing = [d for d in wanted if d not in stored]
        if missing:
            raise InputError(f"no registry was generated for business date {missing[0]}")
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for business_date in wanted:
            as_of = gen.cutover.window(business_date)[1]
            path = directory / f"{business_date.isoformat()}.ndjson"
            partial = path.with_suffix(".ndjson.partial")
            with partial.open("w", encoding="utf-8") as out:
                for line in snapshot_lines(conn, business_date, as_of):
                    out.write(line)
            conn.commit()
            os.replace(partial, path)  # a reader never sees half a file
            written.append(path)
        return written
    finally:
        conn.close()
