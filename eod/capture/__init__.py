"""Captures of the external systems the close reads (CONTRACT section 5).

Each `capture_xxx(database_url, business_date, settings)` reads one system, validates
what it read, and replaces D's rows in one transaction; a failure writes nothing.
"""

from eod.capture.custody import capture_custody
from eod.capture.registry import capture_registry
from eod.capture.staking import capture_staking

__all__ = ["capture_custody", "capture_registry", "capture_staking"]
