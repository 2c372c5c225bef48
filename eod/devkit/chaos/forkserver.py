"""Closes in processes of their own, forked from one that has already started up.

A close's process spends seconds importing Prefect, dbt and Great Expectations and
parsing the dbt project before its first step; a chaos run starts a few dozen of
them. This server does that once, then forks a fresh process for each close it is
asked for (one line of JSON on stdin: date, strike point, action, signal file) and
reports on stdout when it started (`{"started": pid}`) and how it ended
(`{"ended": pid, "returncode": n}`, minus the signal's number when a signal ended it).
Each forked close is a whole process of its own: a SIGKILL ends it as it would end
`eod close`. The server itself runs no thread and holds no connection when it forks.

    python -m eod.devkit.chaos.forkserver
"""

from __future__ import annotations

import json
import os
import sys
import threading


def _warm_up() -> None:
    from eod.close import dbt_build
    from eod.config import Settings
    from eod.dbt import parsed_runner
    from eod.devkit.chaos import strike  # noqa: F401
    from eod.validation.runner import _import_great_expectations
    from flows import service  # noqa: F401

    _import_great_expectations()
    parsed_runner(Settings.from_env().database_url, dbt_build.target_path())


def _close(day: str, point: str, action: str, signal_file: str, log_file: str) -> int:
    """In the forked process: the close, struck at `point` (eod.devkit.chaos.child)."""
    with open(log_file, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    from eod.devkit.chaos.child import main

    return main([day, point, action, signal_file])


def serve() -> None:
    _warm_up()
    if threading.active_count() != 1:
        names = [t.name for t in threading.enumerate()]
        print(json.dumps({"error": f"threads running before fork: {names}"}), flush=True)
        return
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 2
            try:
                code = _close(**request)
            finally:
                sys.stdout.flush()
                os._exit(code)
        print(json.dumps({"started": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(json.dumps({"ended": pid, "returncode": code}), flush=True)


if __name__ == "__main__":
    from eod.config import apply_prefect_defaults

    apply_prefect_defaults()
    serve()
