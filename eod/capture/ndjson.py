"""Reading the matching engine's NDJSON registry one line at a time.

Amounts must be JSON strings holding a plain decimal (`"1.5"`, `"-0.25"`, `"7"`):
the contract sends decimal strings, and a JSON number (`1.5`, `1e-5`) has already
been through a binary float in most producers, so it is refused rather than guessed
at. Negative amounts parse here and are refused by validation, which counts them.
Blank lines are ignored. Line numbers count from 1 (the header).
"""

from __future__ import annotations

import http.client
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import orjson

from eod.errors import InputError, ServiceError

_AMOUNT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Codes only: they go into COPY's text format, where tabs and backslashes are syntax.
_CURRENCY = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
AMOUNT_FIELDS = ("total", "locked", "available")


def _load(line_no: int, raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InputError(f"registry line {line_no}: not UTF-8 text") from None
    except ValueError as exc:
        raise InputError(f"registry line {line_no}: malformed JSON ({exc.msg})") from None


def parse_header(raw: bytes, expected_as_of: datetime) -> tuple[datetime, int]:
    """(as_of, sequence) of the first line; as_of must be the end of the business date."""
    header = _load(1, raw)
    if not isinstance(header, dict):
        raise InputError("registry line 1: the header must be a JSON object")
    for name in ("as_of", "sequence"):
        if name not in header:
            raise InputError(f"registry line 1: header has no {name!r}")
    sequence = header["sequence"]
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        raise InputError(f"registry line 1: sequence must be a whole number, got {sequence!r}")
    text = header["as_of"]
    try:
        as_of = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        as_of = None
    if as_of is None or as_of.tzinfo is None:
        raise InputError(f"registry line 1: as_of must be an ISO-8601 instant, got {text!r}")
    if as_of != expected_as_of:
        raise InputError(
            f"registry line 1: as_of {text} is not the end of the business date "
            f"({expected_as_of.isoformat()})"
        )
    return as_of, sequence


def parse_row(line_no: int, raw: bytes) -> tuple[int, str, str, str, str]:
    """(user_id, currency, total, locked, available) of a balance line."""
    row = _load(line_no, raw)
    if not isinstance(row, dict):
        raise InputError(f"registry line {line_no}: expected a JSON object")
    for name in ("user_id", "currency", *AMOUNT_FIELDS):
        if name not in row:
            raise InputError(f"registry line {line_no}: missing field {name!r}")
    user_id = row["user_id"]
    if not isinstance(user_id, int) or isinstance(user_id, bool) or abs(user_id) >= 10**18:
        raise InputError(f"registry line {line_no}: user_id must be an integer, got {user_id!r}")
    currency = row["currency"]
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise InputError(f"registry line {line_no}: currency must be a code, got {currency!r}")
    amounts = []
    for name in AMOUNT_FIELDS:
        value = row[name]
        if not isinstance(value, str):
            kind = "null" if value is None else type(value).__name__
            raise InputError(
                f"registry line {line_no}: {name} must be a decimal string, got {kind} {value!r}"
            )
        if not _AMOUNT.fullmatch(value):
            raise InputError(f"registry line {line_no}: {name} is not a decimal: {value!r}")
        amounts.append(value)
    return user_id, currency, amounts[0], amounts[1], amounts[2]


def iter_lines(stream, block: int = 1 << 16) -> Iterator[bytes]:
    """Lines of a binary stream read in blocks.

    A body cut before its Content-Length or its last chunk must fail, never pass for
    the end of a (short) registry: a cut chunked body raises IncompleteRead, and a
    length-framed one leaves unread bytes announced.
    """
    read = getattr(stream, "read1", stream.read)  # what has arrived, without waiting for more
    pending = b""
    while True:
        data = read(block)
        if not data:
            missing = getattr(stream, "length", None)  # an HTTP body's unread bytes
            if missing:
                raise ConnectionError(f"{missing} bytes of the announced length never came")
            break
        pending += data
        lines = pending.split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


_USER_ID_LIMIT = 10**18
_loads = orjson.loads
_is_currency = _CURRENCY.fullmatch
# The three amounts joined by tabs: an amount never holds a tab, so this matches only
# when each of the three is a plain decimal.
_are_amounts = re.compile(rf"{_AMOUNT.pattern}\t{_AMOUNT.pattern}\t{_AMOUNT.pattern}").fullmatch


def _fast_row(line_no: int, raw: bytes) -> str:
    """A valid balance line as its COPY text (`user_id, currency, amounts`, tab-separated),
    in few steps; any other line goes to parse_row, which names its fault.

    Millions of lines go through here, so the valid case is checked in one expression
    and the messages are only built (by parse_row) for a line that fails it. orjson
    accepts strictly less than the standard library's parser (no NaN, no integers
    past 64 bits), so whatever it lets through parse_row would accept as the same row.
    """
    try:
        row = _loads(raw)
        user_id, currency = row["user_id"], row["currency"]
        total, locked, available = row["total"], row["locked"], row["available"]
        if (
            type(user_id) is int
            and -_USER_ID_LIMIT < user_id < _USER_ID_LIMIT
            and type(currency) is str
            and type(total) is str
            and type(locked) is str
            and type(available) is str
            and _is_currency(currency)
        ):
            amounts = f"{total}\t{locked}\t{available}"
            if _are_amounts(amounts):
                return f"{user_id}\t{currency}\t{amounts}"
    except (ValueError, TypeError, KeyError):
        pass
    return "\t".join(map(str, parse_row(line_no, raw)))


def numbered_lines(lines: Iterable[bytes], source: str) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their line numbers; a read that breaks off is a ServiceError."""
    line_no = 0
    iterator = iter(lines)
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            return
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise ServiceError(
                f"registry stream from {source} broke off after line {line_no}: {exc}"
            ) from None
        line_no += 1
        if raw.strip():
            yield line_no, raw


class CopySource:
    """A file-like over the registry's balance lines, in COPY text format, for COPY FROM.

    psycopg2 calls read(); an InputError raised while parsing is kept in `error`
    because psycopg2 replaces it by its own QueryCanceled.
    """

    def __init__(self, lines: Iterator[tuple[int, bytes]], capture_id: uuid.UUID) -> None:
        self._lines = lines
        self._prefix = f"{capture_id}\t"
        self._buffer = ""
        self.rows = 0
        self.error: BaseException | None = None

    def _next_chunk(self, size: int) -> str:
        parts: list[str] = []
        append = parts.append
        prefix = self._prefix
        fast_row = _fast_row
        length = 0
        for line_no, raw in self._lines:
            part = f"{prefix}{line_no}\t{fast_row(line_no, raw)}\n"
            append(part)
            length += len(part)
            if length >= size:
                break
        self.rows += len(parts)
        return "".join(parts)

    def read(self, size: int = 65536) -> str:
        try:
            if size is None or size < 0:
                size = 1 << 20
            while len(self._buffer) < size:
                chunk = self._next_chunk(size)
                if not chunk:
                    break
                self._buffer += chunk
            out, self._buffer = self._buffer[:size], self._buffer[size:]
            return out
        except BaseException as exc:
            self.error = exc
            raise
