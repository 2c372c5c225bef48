"""`eod por publish`: the date's roots as a static site users verify their proofs with.

The site is plain files (index.html, verify.html, verify.js, style.css, roots.json), to
be opened from disk or put on any static host. A page opened from disk may not fetch
other files, so each page carries the roots it shows and checks against, embedded as
JSON; roots.json is the same data for programs. The verifier (site/verify.js) is a
second implementation of the encoding on purpose: users need not trust our Python.
"""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from string import Template

from eod.db import transaction
from eod.errors import InputError

SITE = Path(__file__).with_name("site")
STATIC = ("verify.js", "style.css")


@dataclass(frozen=True)
class PublishedRoot:
    currency: str
    root_hash: str
    root_sum: int  # base units
    leaf_count: int
    decimals: int
    custody_balance: Decimal | None
    reserve_ratio: Decimal | None

    @property
    def sum_in_currency(self) -> Decimal:
        return Decimal(self.root_sum).scaleb(-self.decimals)

    def as_json(self) -> dict:
        # integers as strings: a reader whose JSON numbers are doubles keeps every digit
        return {
            "root_hash": self.root_hash,
            "root_sum": str(self.root_sum),
            "leaf_count": self.leaf_count,
            "decimals": self.decimals,
            "custody_balance": _text(self.custody_balance),
            "reserve_ratio": _text(self.reserve_ratio),
        }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def published_roots(database_url: str, business_date: date) -> list[PublishedRoot]:
    with transaction(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            """select p.currency, p.root_hash, p.root_sum, p.leaf_count, c.decimals,
                      p.custody_balance, p.reserve_ratio
               from marts.proof_of_reserves p
               join exchange.currencies c using (currency)
               where p.business_date = %s order by p.currency""",
            (business_date,),
        )
        rows = cur.fetchall()
    return [
        PublishedRoot(cur_, root, int(total), int(leaves), int(decimals), custody, ratio)
        for cur_, root, total, leaves, decimals, custody, ratio in rows
    ]


def site_data(business_date: date, roots: list[PublishedRoot]) -> dict:
    return {
        "business_date": business_date.isoformat(),
        "roots": {root.currency: root.as_json() for root in roots},
    }


def _embedded_json(data: dict) -> str:
    # inside <script>, "</" would end the element early
    return json.dumps(data, indent=1).replace("<", "\\u003c")


def _cell(value, number: bool = False) -> str:
    css = ' class="number"' if number else ""
    return f"<td{css}>{html.escape(str(value))}</td>"


def _index_rows(roots: list[PublishedRoot]) -> str:
    rows = []
    for root in roots:
        cells = [
            _cell(root.currency),
            f'<td class="hash">{root.root_hash}</td>',
            _cell(f"{_text(root.sum_in_currency)} {root.currency}", number=True),
            _cell(root.root_sum, number=True),
            _cell(root.leaf_count, number=True),
            _cell(_text(root.custody_balance) or "", number=True),
            _cell(_text(root.reserve_ratio) or "", number=True),
        ]
        rows.append(f'      <tr data-currency="{html.escape(root.currency)}">{"".join(cells)}</tr>')
    return "\n".join(rows)


def _verify_rows(roots: list[PublishedRoot]) -> str:
    return "\n".join(
        f'      <tr data-currency="{html.escape(r.currency)}">{_cell(r.currency)}'
        f'<td class="hash">{r.root_hash}</td>{_cell(r.root_sum, True)}'
        f"{_cell(r.leaf_count, True)}</tr>"
        for r in roots
    )


def publish(database_url: str, business_date: date, out_dir: Path) -> list[Path]:
    """Write the site for D into out_dir; return the files written."""
    roots = published_roots(database_url, business_date)
    if not roots:
        raise InputError(f"no proof of reserves is published for {business_date}")
    data = site_data(business_date, roots)
    fields = {
        "business_date": business_date.isoformat(),
        "published_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "roots_rows": _index_rows(roots),
        "verify_rows": _verify_rows(roots),
        "roots_json": _embedded_json(data),
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for page in ("index.html", "verify.html"):
            text = Template((SITE / page).read_text()).substitute(fields)
            (out_dir / page).write_text(text)
            written.append(out_dir / page)
        for name in STATIC:
            shutil.copyfile(SITE / name, out_dir / name)
            written.append(out_dir / name)
        (out_dir / "roots.json").write_text(json.dumps(data, indent=2) + "\n")
        written.append(out_dir / "roots.json")
    except OSError as exc:
        raise InputError(f"cannot write the site to {out_dir}: {exc.strerror}") from None
    return written
