"""`eod serve`: refuses without a token; serves, then stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests_py.conftest import PROJECT_DIR, run_eod

REAL_CLOSE = {
    "EOD_ME_URL": "http://127.0.0.1:9",
    "EOD_CUSTODY_URL": "http://127.0.0.1:9",
    "EOD_CUSTODY_TOKEN": "custody-token",
    "EOD_STAKING_RPC_URL": "http://127.0.0.1:9",
    "EOD_STAKING_POOL_ADDRESS": "0x5a7e00000000000000000000000000000000c0de",
    "EOD_POR_SECRET": "por-secret",
}


def test_serve_refuses_without_an_admin_token(eod_env):
    env = {**eod_env, **REAL_CLOSE}
    env.pop("EOD_ADMIN_TOKEN", None)
    proc = run_eod(["serve"], env, check=False, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "eod serve: EOD_ADMIN_TOKEN is not set: the AdminService refuses to start"
    ]


def test_serve_runs_the_deployment_and_stops_on_sigterm(eod_env):
    env = {
        **eod_env,
        **REAL_CLOSE,
        "EOD_ADMIN_TOKEN": "admin-token",
        "EOD_CUTOVER": "16:00 America/New_York",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "eod.cli", "serve", "--admin-port", "0"],
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert "eod-close daily at '5 16 * * *' America/New_York" in first
        assert "AdminService on 127.0.0.1:" in first
        deadline = time.monotonic() + 150
        output = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output.append(line)
            if "eod-close/eod-close-daily" in line:
                break
        else:
            raise AssertionError("the deployment was not served:\n" + "".join(output))
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "stopped" in rest
