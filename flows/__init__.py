"""Prefect wiring of the EOD close, and the one way into it.

- `service`: `run_close`, `backfill`, `close_status`: what the CLI, the gRPC
  AdminService, the demo and the benches call;
- `eod_close`: the `eod-close` flow and its stages;
- `tasks`: one Prefect task per step, each calling the close's own machinery
  (`eod.close`, `eod.capture`, `eod.por`, `eod.accounts`);
- `deployment`: the daily schedule after the cutover.

Nothing here decides anything about money or accounts: that lives in `eod`.
"""

from eod.config import apply_prefect_defaults

apply_prefect_defaults()  # before any module of this package imports Prefect
