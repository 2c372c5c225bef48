"""Matching-engine registry capture: streamed NDJSON over HTTP and file://, validated,
landed atomically; bad input writes nothing."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from eod.business_date import Cutover
from eod.capture import capture_registry
from eod.capture import http as capture_http
from eod.config import Settings
from eod.errors import InputError, ServiceError
from eod.validation import ValidationFailed
from tests_py.capture_fixtures import ndjson, query, seed_currencies, seed_users, upstream_server  # noqa: F401

D = date(2026, 3, 14)
END = "2026-03-15T00:00:00Z"
ROWS = [
    {"user_id": 7, "currency": "BTC", "total": "1.5", "locked": "0.2", "available": "1.3"},
    {"user_id": 7, "currency": "USDT", "total": "100", "locked": "0", "available": "100"},
    {
        "user_id": 9,
        "currency": "ETH",
        "total": "0.000000000000000001",
        "locked": "0",
        "available": "0.000000000000000001",
    },
]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(capture_http, "BACKOFF_S", 0.01)


@pytest.fixture
def db(db_url):
    seed_currencies(db_url)
    seed_users(db_url)
    return db_url


def settings(me_url: str, tmp_path, cutover: str = "00:00 UTC") -> Settings:
    return dataclasses.replace(
        Settings.from_env(),
        me_url=me_url,
        cutover=Cutover.parse(cutover),
        state_dir=tmp_path / "state",
    )


def balances(db_url: str, day: date = D) -> list[tuple]:
    return query(
        db_url,
        """select user_id, currency, total, locked, available, as_of, sequence
           from eod.me_balances where business_date = %s order by user_id, currency""",
        (day,),
    )


def staged(db_url: str) -> int:
    return query(db_url, "select count(*) from eod.me_balances_incoming")[0][0]


EXPECTED = [
    (7, "BTC", Decimal("1.5"), Decimal("0.2"), Decimal("1.3")),
    (7, "USDT", Decimal("100"), Decimal("0"), Decimal("100")),
    (9, "ETH", Decimal("0.000000000000000001"), Decimal("0"), Decimal("0.000000000000000001")),
]
END_DT = datetime(2026, 3, 15, tzinfo=UTC)


def test_http_capture_lands_the_registry(db, upstream, tmp_path):
    state, base = upstream
    state.registry[END] = ndjson(END, 42, ROWS)
    summary = capture_registry(db, D, settings(base, tmp_path))
    assert [r[:5] for r in balances(db)] == EXPECTED
    assert {(r[5], r[6]) for r in balances(db)} == {(END_DT, 42)}
    assert summary["rows"] == 3 and summary["sequence"] == 42 and summary["as_of"] == END
    assert staged(db) == 0
    # the validation result is kept: a row and a JSON file
    rows = query(db, "select suite, success, statistics from eod.validation_results")
    assert [(r[0], r[1], r[2]["evaluated_expectations"]) for r in rows] == [
        ("me_registry", True, 7)
    ]
    files = list((tmp_path / "state" / "validations" / "2026-03-14").glob("me_registry-*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["success"] is True


def test_as_of_is_the_end_of_the_business_date_in_the_cutover_zone(db, upstream, tmp_path):
    state, base = upstream
    # 16:00 New York, winter (UTC-5): D ends at D 16:00 local = 21:00 UTC
    end = "2026-01-14T21:00:00Z"
    state.registry[end] = ndjson("2026-01-14T16:00:00-05:00", 1, ROWS[:1])
    capture_registry(db, date(2026, 1, 14), settings(base, tmp_path, "16:00 America/New_York"))
    assert [r[0:2] for r in balances(db, date(2026, 1, 14))] == [(7, "BTC")]
    assert state.requests[0][1] == "/v1/registry/snapshot?as_of=2026-01-14T21%3A00%3A00Z"


def test_file_url_reads_the_dated_file(db, tmp_path):
    folder = tmp_path / "registry"
    folder.mkdir()
    (folder / "2026-03-14.ndjson").write_bytes(ndjson(END, 5, ROWS))
    capture_registry(db, D, settings(f"file://{folder}", tmp_path))
    assert [r[:5] for r in balances(db)] == EXPECTED


def test_missing_file_is_one_line(db, tmp_path):
    with pytest.raises(InputError, match="no registry file for 2026-03-14"):
        capture_registry(db, D, settings(f"file://{tmp_path}", tmp_path))


def test_recapture_replaces_only_that_date(db, upstream, tmp_path):
    state, base = upstream
    state.registry[END] = ndjson(END, 1, ROWS)
    other_end = "2026-03-16T00:00:00Z"
    state.registry[other_end] = ndjson(other_end, 2, ROWS[:1])
    capture_registry(db, date(2026, 3, 15), settings(base, tmp_path))
    capture_registry(db, D, settings(base, tmp_path))
    state.registry[END] = ndjson(END, 3, ROWS[1:])
    capture_registry(db, D, settings(base, tmp_path))
    assert [r[:2] for r in balances(db)] == [(7, "USDT"), (9, "ETH")]
    assert {r[6] for r in balances(db)} == {3}
    assert [r[:2] for r in balances(db, date(2026, 3, 15))] == [(7, "BTC")]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"user_id": 8, "currency": "BTC", "total": "1"', "registry line 3: malformed JSON"),
        (
            {"user_id": 8, "currency": "BTC", "total": "1", "locked": "0"},
            "registry line 3: missing field 'available'",
        ),
        (
            {"user_id": 8, "currency": "BTC", "total": 1e-05, "locked": "0", "available": "0"},
            "registry line 3: total must be a decimal string, got float 1e-05",
        ),
        (
            {"user_id": 8, "currency": "BTC", "total": "1e-5", "locked": "0", "available": "0"},
            "registry line 3: total is not a decimal: '1e-5'",
        ),
        (
            {"user_id": "8", "currency": "BTC", "total": "1", "locked": "0", "available": "1"},
            "registry line 3: user_id must be an integer",
        ),
        (
            {"user_id": 8, "currency": "B\tC", "total": "1", "locked": "0", "available": "1"},
            "registry line 3: currency must be a code",
        ),
    ],
)
def test_malformed_line_fails_naming_it_and_writes_nothing(
    db, upstream, tmp_path, bad_line, message
):
    state, base = upstream
    state.registry[END] = ndjson(END, 1, ROWS[:1])
    capture_registry(db, D, settings(base, tmp_path))
    before = balances(db)
    state.registry[END] = ndjson(END, 2, [ROWS[1], bad_line, ROWS[2]])
    with pytest.raises(InputError) as err:
        capture_registry(db, D, settings(base, tmp_path))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert balances(db) == before
    assert staged(db) == 0


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"as_of": "2026-03-14T00:00:00Z", "sequence": 1}, "is not the end of the business date"),
        ({"as_of": END, "sequence": "1"}, "sequence must be a whole number"),
        ({"as_of": END}, "header has no 'sequence'"),
        ({"as_of": "yesterday", "sequence": 1}, "as_of must be an ISO-8601 instant"),
    ],
)
def test_bad_header_is_refused(db, upstream, tmp_path, header, message):
    state, base = upstream
    state.registry[END] = (json.dumps(header) + "\n" + json.dumps(ROWS[0]) + "\n").encode()
    with pytest.raises(InputError, match=message):
        capture_registry(db, D, settings(base, tmp_path))
    assert balances(db) == []


def test_empty_body_is_refused(db, upstream, tmp_path):
    state, base = upstream
    state.registry[END] = b""
    with pytest.raises(InputError, match="is empty"):
        capture_registry(db, D, settings(base, tmp_path))


@pytest.mark.parametrize(
    ("rows", "check", "count", "first"),
    [
        (
            [ROWS[0], ROWS[1], dict(ROWS[0])],
            "unique_user_currency",
            1,
            "user_id=7 currency=BTC row_count=2 first_line=2",
        ),
        (
            [ROWS[0], {**ROWS[1], "total": "-1", "available": "-1"}],
            "non_negative",
            1,
            "line_no=3 user_id=7 currency=USDT total=-1 locked=0 available=-1",
        ),
        (
            [{**ROWS[0], "currency": "DOGE"}, ROWS[1]],
            "known_currency",
            1,
            "line_no=2 user_id=7 currency=DOGE",
        ),
        (
            [{**ROWS[0], "total": "1.6"}],
            "total_equals_locked_plus_available",
            1,
            "line_no=2 user_id=7 currency=BTC total=1.6 locked=0.2 available=1.3",
        ),
        (
            [{**ROWS[0], "total": "1.000000001", "locked": "0", "available": "1.000000001"}],
            "decimals_within_currency",
            1,
            "line_no=2 user_id=7 currency=BTC decimals=8",
        ),
        (
            [
                {
                    **ROWS[0],
                    "total": "100000000000000000000.2",
                    "available": "100000000000000000000",
                },
                ROWS[1],
            ],
            "amount_in_range",
            1,
            "line_no=2 user_id=7 currency=BTC total=100000000000000000000.2",
        ),
    ],
)
def test_validation_failure_names_check_count_and_rows(
    db, upstream, tmp_path, rows, check, count, first
):
    state, base = upstream
    state.registry[END] = ndjson(END, 1, rows)
    with pytest.raises(ValidationFailed) as err:
        capture_registry(db, D, settings(base, tmp_path))
    text = str(err.value)
    assert text.startswith("me_registry validation failed for 2026-03-14: ")
    assert f"{check}: {count} rows (first: {first}" in text
    assert "\n" not in text
    assert balances(db) == [] and staged(db) == 0
    kept = query(db, "select success, result from eod.validation_results")
    assert [k[0] for k in kept] == [False]


def test_http_500_is_retried_then_succeeds(db, upstream, tmp_path):
    state, base = upstream
    state.registry[END] = ndjson(END, 1, ROWS)
    state.status_queue = [500, 503]
    capture_registry(db, D, settings(base, tmp_path))
    assert len(balances(db)) == 3
    assert len(state.requests) == 3


def test_http_500_every_time_fails_after_retries(db, upstream, tmp_path):
    state, base = upstream
    state.status_queue = [500] * 5
    with pytest.raises(ServiceError, match="matching engine failed after 3 tries.*HTTP 500"):
        capture_registry(db, D, settings(base, tmp_path))
    assert balances(db) == []


def test_http_404_is_not_retried(db, upstream, tmp_path):
    state, base = upstream
    with pytest.raises(ServiceError, match="matching engine answered HTTP 404"):
        capture_registry(db, D, settings(base, tmp_path))
    assert len(state.requests) == 1


def test_unreachable_engine(db, tmp_path):
    with pytest.raises(ServiceError, match="matching engine failed after 3 tries"):
        capture_registry(db, D, settings("http://127.0.0.1:9", tmp_path))


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_stream_that_breaks_off_fails_and_writes_nothing(db, tmp_path, framing):
    """A reply that ends before its framing says is a broken stream, not a short registry."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    body = ndjson(END, 1, ROWS[:2])

    def serve_once():
        conn, _ = listener.accept()
        conn.recv(65536)
        if framing == "chunked":
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            conn.sendall(head + f"{len(body):x}\r\n".encode() + body + b"\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + body)
        conn.close()

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with pytest.raises(ServiceError, match="registry stream from .* broke off"):
            capture_registry(db, D, settings(base, tmp_path))
    finally:
        listener.close()
    assert balances(db) == [] and staged(db) == 0


def test_rows_a_killed_capture_left_behind_are_dropped(db, upstream, tmp_path):
    import psycopg2

    conn = psycopg2.connect(db)
    with conn, conn.cursor() as cur:
        cur.execute(
            """insert into eod.me_balances_incoming
                   (capture_id, line_no, user_id, currency, total, locked, available, staged_at)
               values (gen_random_uuid(), 2, 1, 'BTC', 1, 0, 1, now() - interval '2 days'),
                      (gen_random_uuid(), 2, 1, 'BTC', 1, 0, 1, now())"""
        )
    conn.close()
    state, base = upstream
    state.registry[END] = ndjson(END, 1, ROWS)
    capture_registry(db, D, settings(base, tmp_path))
    assert staged(db) == 1  # the recent one may belong to a capture still running


def test_blank_lines_crlf_and_escapes_are_plain_json(db, upstream, tmp_path):
    state, base = upstream
    header = json.dumps({"as_of": END, "sequence": 4})
    lines = [
        header,
        "",
        '{"user_id": 7, "currency": "\\u0042TC", "total": "1.5", "locked": "0.2", '
        '"available": "1.3"}',
        "   ",
        json.dumps(ROWS[1]),
        json.dumps(ROWS[2]),
    ]
    state.registry[END] = ("\r\n".join(lines) + "\r\n").encode()
    summary = capture_registry(db, D, settings(base, tmp_path))
    assert [r[:5] for r in balances(db)] == EXPECTED
    assert summary["rows"] == 3


def test_header_only_is_an_empty_registry_and_refused(db, upstream, tmp_path):
    state, base = upstream
    state.registry[END] = ndjson(END, 9, [])
    with pytest.raises(InputError) as err:
        capture_registry(db, D, settings(base, tmp_path))
    assert str(err.value) == (
        f"registry for {D} from {base}/v1/registry/snapshot?as_of=2026-03-15T00%3A00%3A00Z"
        " holds no balance line: an empty registry is refused"
    )
    assert balances(db) == [] and staged(db) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"user_id": true, "currency": "BTC", "total": "1", "locked": "0", "available": "1"}',
            "registry line 4: user_id must be an integer, got True",
        ),
        (b"[1, 2]", "registry line 4: expected a JSON object"),
        (
            b'{"user_id": 8, "currency": "BTC", "total": "1", "locked": "0", "available": "\xff"}',
            "registry line 4: not UTF-8 text",
        ),
    ],
)
def test_refused_line_after_good_ones_is_named(db, upstream, tmp_path, body, message):
    state, base = upstream
    state.registry[END] = ndjson(END, 1, ROWS[:2]) + body + b"\n"
    with pytest.raises(InputError) as err:
        capture_registry(db, D, settings(base, tmp_path))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert balances(db) == [] and staged(db) == 0


def test_failed_recapture_keeps_the_earlier_capture(db, upstream, tmp_path):
    state, base = upstream
    state.registry[END] = ndjson(END, 1, ROWS)
    capture_registry(db, D, settings(base, tmp_path))
    before = balances(db)
    state.registry[END] = ndjson(END, 2, [ROWS[0], ROWS[1], ROWS[0]])  # a row twice
    with pytest.raises(ValidationFailed, match="unique_user_currency: 1 rows"):
        capture_registry(db, D, settings(base, tmp_path))
    state.registry[END] = ndjson(END, 3, [{**ROWS[0], "locked": "-0.2", "available": "1.7"}])
    with pytest.raises(ValidationFailed, match="non_negative: 1 rows"):
        capture_registry(db, D, settings(base, tmp_path))
    assert balances(db) == before and staged(db) == 0
