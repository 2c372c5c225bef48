"""With EOD_DATABASE_URL / NATS_URL unset, the CLI starts embedded services."""

from __future__ import annotations

import asyncio
import os

import nats

from eod import embedded
from eod.errors import ServiceError
from tests_py.conftest import run_eod


def _env_without_services(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("EOD_DATABASE_URL", "NATS_URL")}
    env["EOD_STATE_DIR"] = str(tmp_path / "state")
    return env


def test_embedded_postgres_starts_and_keeps_its_data(tmp_path):
    env = _env_without_services(tmp_path)
    first = run_eod(["db", "migrate"], env)
    assert "applied: 0001_platform_schema" in first.stdout
    assert (tmp_path / "state" / "pgdata" / "PG_VERSION").exists()
    # the next command reuses the same data folder: nothing left to apply
    second = run_eod(["db", "migrate"], env)
    assert "up to date" in second.stdout


def test_unusable_state_folder_is_one_clear_line(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state folder should be")
    env = _env_without_services(tmp_path)
    env["EOD_STATE_DIR"] = str(blocker)
    proc = run_eod(["db", "migrate"], env, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot use" in lines[0] and "not-a-dir" in lines[0]


def test_embedded_nats_has_jetstream(tmp_path):
    url = embedded.start_nats(tmp_path / "state")
    try:

        async def roundtrip():
            nc = await nats.connect(url)
            js = nc.jetstream()
            await js.add_stream(name="EMBEDDED_PROBE", subjects=["probe.>"])
            ack = await js.publish("probe.one", b"x", headers={"Nats-Msg-Id": "m1"})
            dup = await js.publish("probe.one", b"x", headers={"Nats-Msg-Id": "m1"})
            await nc.close()
            return ack, dup

        ack, dup = asyncio.run(roundtrip())
        assert ack.seq == 1 and dup.duplicate
    finally:
        embedded.stop_nats()


def test_embedded_nats_on_a_taken_port_says_so(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            embedded.start_nats(tmp_path / "state", port=port)
        except ServiceError as exc:
            assert "nats-server" in str(exc)
        else:  # pragma: no cover
            embedded.stop_nats()
            raise AssertionError("a taken port must be refused")
