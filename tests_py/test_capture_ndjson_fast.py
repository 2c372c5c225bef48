"""The registry's COPY text: blocks of canonical lines take a fast path, which must give
exactly the rows (and the errors) of parsing each line with parse_row."""

from __future__ import annotations

import io
import json
import random
import uuid

import pytest

from eod.capture import ndjson
from eod.errors import InputError, ServiceError

CAPTURE = uuid.UUID("12345678-1234-5678-1234-567812345678")
HEADER = b'{"as_of": "2026-03-15T00:00:00Z", "sequence": 1}\n'


def canonical(user_id: int, currency: str, total: str, locked: str, available: str) -> bytes:
    """A line as the engine writes it (`_LINES_SQL` in eod/simulators/registry.py)."""
    return (
        f'{{"user_id": {user_id}, "currency": {json.dumps(currency)}, "total": "{total}", '
        f'"locked": "{locked}", "available": "{available}"}}\n'
    ).encode()


def reference(body: bytes) -> str:
    """The COPY text by the plain definition: parse_row on every non-blank line after the
    header, numbered from 1 counting every line."""
    out = []
    header_seen = False
    for line_no, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        if not header_seen:
            header_seen = True
            continue
        fields = ndjson.parse_row(line_no, raw)
        out.append("\t".join([str(CAPTURE), str(line_no), *map(str, fields)]) + "\n")
    return "".join(out)


def copy_text(body: bytes, block: int, read_size: int = 1000) -> tuple[str, int]:
    """The COPY text CopySource gives for `body` read in blocks of `block` bytes."""
    header, blocks = ndjson.split_header(ndjson.numbered_blocks(io.BytesIO(body), "test", block))
    assert header == HEADER.strip() or header is None
    source = ndjson.CopySource(blocks, CAPTURE)
    parts = []
    while chunk := source.read(read_size):
        assert len(chunk) <= read_size
        parts.append(chunk)
    assert source.error is None
    return "".join(parts), source.rows


def reference_error(body: bytes) -> str:
    with pytest.raises(InputError) as err:
        reference(body)
    return str(err.value)


def amount(rnd: random.Random) -> str:
    whole = str(rnd.choice([0, 1, 7, 10, rnd.randrange(10**12)]))
    if rnd.random() < 0.5:
        whole += "." + str(rnd.randrange(10**8)).rjust(rnd.randint(1, 18), "0")
    return ("-" if rnd.random() < 0.05 else "") + whole


def valid_line(rnd: random.Random) -> bytes:
    """A valid balance line: mostly canonical, sometimes valid JSON of another shape."""
    user_id = rnd.choice([0, 1, 42, -5, 10**18 - 1, -(10**18) + 1, rnd.randrange(10**9)])
    row = {
        "user_id": user_id,
        "currency": rnd.choice(["BTC", "ETH", "USDT", "usdc.e", "A-1_x", "Q" * 32]),
        "total": amount(rnd),
        "locked": amount(rnd),
        "available": amount(rnd),
    }
    kind = rnd.random()
    if kind < 0.85:
        return canonical(**row)
    if kind < 0.88:  # compact separators
        return json.dumps(row, separators=(",", ":")).encode() + b"\n"
    if kind < 0.91:  # another key order
        return json.dumps(dict(reversed(row.items()))).encode() + b"\n"
    if kind < 0.93:  # a CRLF line ending
        return canonical(**row)[:-1] + b"\r\n"
    if kind < 0.95:  # an escape in a string
        return canonical(**row).replace(b'"total"', b'"t\\u006ftal"')
    if kind < 0.96:  # -0 and a leading zero in an amount: parse_row takes them as they are
        return canonical(**{**row, "total": "007.50"}).replace(b": 0,", b": -0,")
    if kind < 0.97:  # blanks around
        return b" " + canonical(**row)[:-1] + b"  \t\n"
    if kind < 0.985:
        return b"\n"
    return b"   \n"


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("block", [7, 61, 500, 1 << 16])
def test_fast_path_agrees_with_parse_row_on_mixed_input(seed, block):
    rnd = random.Random(seed)
    body = HEADER + b"".join(valid_line(rnd) for _ in range(400))
    if seed % 2:
        body = body.rstrip(b"\n")  # a last line without its newline
    expected = reference(body)
    text, rows = copy_text(body, block, read_size=rnd.choice([1, 100, 4096, 65536]))
    assert text == expected
    assert rows == expected.count("\n")


@pytest.mark.parametrize("block", [7, 100, 1 << 16])
def test_hand_built_registry(block):
    lines = [
        b"\n",  # line 1 blank: the header is line 2
        HEADER,
        canonical(7, "BTC", "1.5", "0.2", "1.3"),
        canonical(0, "ETH", "0", "0", "0"),
        b"\n",
        canonical(-3, "USDT", "-1", "0", "-1"),  # negative: parsed, refused by validation
        canonical(999999999999999999, "BTC", "0.000000000000000001", "0", "1"),
        # -0 is the integer 0; amounts are kept as written, leading zeros and -0 too
        canonical(0, "BTC", "007.50", "-0", "1").replace(b": 0,", b": -0,"),
        b'{"user_id":8,"currency":"BTC","total":"2","locked":"0","available":"2"}\r\n',
        canonical(9, "BTC", "1", "0", "1")[:-1],  # no final newline
    ]
    body = b"".join(lines)
    text, rows = copy_text(body, block)
    assert text == reference(body)
    assert text.splitlines()[0] == f"{CAPTURE}\t3\t7\tBTC\t1.5\t0.2\t1.3"
    assert text.splitlines()[-1] == f"{CAPTURE}\t10\t9\tBTC\t1\t0\t1"
    assert rows == 7


BAD_LINES = [
    b'{"user_id": 8, "currency": "BTC", "total": "1"',  # malformed JSON
    b'{"user_id": 8, "currency": "BTC", "total": 1.5, "locked": "0", "available": "1.5"}',
    b'{"user_id": 8, "currency": "BTC", "total": "1e-5", "locked": "0", "available": "0"}',
    b'{"user_id": 8, "currency": "BTC", "total": "1.", "locked": "0", "available": "1"}',
    b'{"user_id": 8, "currency": "BTC", "total": "1", "locked": "0"}',
    b'{"user_id": "8", "currency": "BTC", "total": "1", "locked": "0", "available": "1"}',
    b'{"user_id": 08, "currency": "BTC", "total": "1", "locked": "0", "available": "1"}',
    b'{"user_id": 1000000000000000000, "currency": "BTC", "total": "1", "locked": "0", '
    b'"available": "1"}',
    b'{"user_id": true, "currency": "BTC", "total": "1", "locked": "0", "available": "1"}',
    b'{"user_id": 8, "currency": "B\\tC", "total": "1", "locked": "0", "available": "1"}',
    b'{"user_id": 8, "currency": "' + b"Q" * 33 + b'", "total": "1", "locked": "0", '
    b'"available": "1"}',
    b'{"user_id": 8, "currency": "BTC", "total": "1", "locked": null, "available": "1"}',
    b'{"user_id": 8, "currency": "BTC", "total": "1", "locked": "0", "available": "\xff"}',
    b"[1, 2]",
    b"x" + canonical(8, "BTC", "1", "0", "1").rstrip(),  # text before a canonical line
    b"7",
]


@pytest.mark.parametrize("bad", BAD_LINES)
@pytest.mark.parametrize("block", [50, 1 << 16])
def test_bad_line_among_canonical_lines_is_named_as_before(bad, block):
    good = [canonical(n, "BTC", "1", "0", "1") for n in range(40)]
    body = HEADER + b"".join(good[:25]) + b"\n" + bad + b"\n" + b"".join(good[25:])
    message = reference_error(body)
    assert message.startswith("registry line 28: ")
    with pytest.raises(InputError) as err:
        copy_text(body, block)
    assert str(err.value) == message


def test_error_is_kept_for_the_copy_caller():
    body = HEADER + canonical(1, "BTC", "1", "0", "1") + BAD_LINES[0] + b"\n"
    header, blocks = ndjson.split_header(ndjson.numbered_blocks(io.BytesIO(body), "test"))
    source = ndjson.CopySource(blocks, CAPTURE)
    with pytest.raises(InputError, match="registry line 3: malformed JSON"):
        source.read(65536)
    assert isinstance(source.error, InputError)


def test_canonical_blocks_never_parse_line_by_line(monkeypatch):
    """The fast path is taken: a change that loses it fails here, not only in a benchmark."""
    rnd = random.Random(1)
    lines = [
        canonical(rnd.randrange(-(10**18) + 1, 10**18), "BTC", amount(rnd), "0", amount(rnd))
        for _ in range(3000)
    ]
    body = HEADER + b"".join(lines)
    expected = reference(body)

    def refuse(*args):
        raise AssertionError("a canonical line went through the per-line path")

    monkeypatch.setattr(ndjson, "_fast_row", refuse)
    monkeypatch.setattr(ndjson, "parse_row", refuse)
    for block in (100, 4096, 1 << 16):
        assert copy_text(body, block)[0] == expected
        assert copy_text(body.rstrip(b"\n"), block)[0] == expected


def test_header_split_keeps_the_line_numbers():
    body = b"  \n\n" + HEADER + canonical(5, "ETH", "2", "1", "1")
    for block in (1, 3, 1 << 16):
        header, blocks = ndjson.split_header(ndjson.numbered_blocks(io.BytesIO(body), "x", block))
        assert header == HEADER.strip()
        assert b"".join(data for _, data in blocks) == canonical(5, "ETH", "2", "1", "1")
    assert ndjson.split_header(iter([(1, b"\n \r\n")]))[0] is None


class _Broken(io.BytesIO):
    def __init__(self, data: bytes, length: int | None = None) -> None:
        super().__init__(data)
        self.length = length

    def read1(self, size: int = -1) -> bytes:
        data = super().read1(size)
        if not data and self.length is None:
            raise TimeoutError("timed out")
        return data


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (_Broken(HEADER + canonical(1, "BTC", "1", "0", "1") + b'{"us'), "timed out"),
        (
            _Broken(HEADER + canonical(1, "BTC", "1", "0", "1") + b'{"us', length=10),
            "the reply was cut short (10 bytes of the announced length never came)",
        ),
    ],
)
def test_stream_that_breaks_off_is_a_service_error(stream, message):
    header, blocks = ndjson.split_header(ndjson.numbered_blocks(stream, "http://engine", 16))
    source = ndjson.CopySource(blocks, CAPTURE)
    with pytest.raises(ServiceError) as err:
        while source.read(65536):
            pass
    assert str(err.value) == (
        f"matching engine registry stream from http://engine broke off after line 2: {message}"
    )
    assert source.error is err.value
