"""Where Superset's virtual environment lives (stdlib only: make runs it before any venv).

Superset and its ~150 pinned dependencies take minutes to install, so the venv is kept
outside the checkout, in the user's cache, named by a digest of the pins: every clone
with the same pins shares one install, and changing a pin makes a new one.
EOD_BI_VENV overrides the place.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

BI_DIR = Path(__file__).resolve().parent
PINS = ("requirements.txt", "constraints.txt")


def bi_venv() -> Path:
    given = os.environ.get("EOD_BI_VENV")
    if given:
        return Path(given).absolute()
    digest = hashlib.sha256()
    for name in PINS:
        digest.update((BI_DIR / name).read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "eod-close" / f"superset-{digest.hexdigest()[:12]}"


if __name__ == "__main__":
    print(bi_venv())
