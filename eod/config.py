"""Configuration from the environment (CONTRACT section 2).

Settings are read once per command. Anything that a real close needs but the demo
can simulate is optional here; `require_real_close()` refuses to start a real close
without it, so a close never falls back to a simulator by accident.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from eod.business_date import Cutover
from eod.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = PROJECT_DIR / ".state"


# Prefect reads its settings when it is first imported: every entry point (the CLI,
# the flows package, the tests) applies these before that happens.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # the ephemeral API server can take a while to start on a busy 2-core machine
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def apply_prefect_defaults(environ=os.environ) -> None:
    """Prefect's settings for this project, where the environment does not set them:
    its home (its local server's SQLite database) under the state folder, no
    analytics, a patient ephemeral server."""
    state_dir = Path(environ.get("EOD_STATE_DIR") or DEFAULT_STATE_DIR).absolute()
    environ.setdefault("PREFECT_HOME", str(state_dir / "prefect"))
    for name, value in PREFECT_DEFAULTS.items():
        environ.setdefault(name, value)
    # Prefect will not create its home itself
    Path(environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)


def int_setting(name: str, default: int, minimum: int = 0) -> int:
    """A whole-number setting from the environment; a bad value is a one-line ConfigError."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _opt(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    nats_url: str | None
    me_url: str | None
    custody_url: str | None
    custody_token: str | None = field(repr=False)
    staking_rpc_url: str | None
    staking_pool_address: str | None
    pager_url: str | None
    pager_routing_key: str | None = field(repr=False)
    cutover: Cutover
    step_timeout_s: int
    por_secret: str | None = field(repr=False)
    admin_token: str | None = field(repr=False)
    closure_cooling_off_days: int
    sanctions_action: str
    state_dir: Path
    max_freezes: int = 100

    @classmethod
    def from_env(cls) -> Settings:
        action = (os.environ.get("EOD_SANCTIONS_ACTION") or "suspend").strip()
        if action not in ("suspend", "restrict"):
            raise ConfigError(
                f"EOD_SANCTIONS_ACTION must be 'suspend' or 'restrict', got {action!r}"
            )
        return cls(
            database_url=_opt("EOD_DATABASE_URL"),
            nats_url=_opt("NATS_URL"),
            me_url=_opt("EOD_ME_URL"),
            custody_url=_opt("EOD_CUSTODY_URL"),
            custody_token=_opt("EOD_CUSTODY_TOKEN"),
            staking_rpc_url=_opt("EOD_STAKING_RPC_URL"),
            staking_pool_address=_opt("EOD_STAKING_POOL_ADDRESS"),
            pager_url=_opt("EOD_PAGER_URL"),
            pager_routing_key=_opt("EOD_PAGER_ROUTING_KEY"),
            cutover=Cutover.parse(os.environ.get("EOD_CUTOVER") or "00:00 UTC"),
            step_timeout_s=int_setting("EOD_STEP_TIMEOUT_S", 1800, minimum=1),
            por_secret=_opt("EOD_POR_SECRET"),
            admin_token=_opt("EOD_ADMIN_TOKEN"),
            closure_cooling_off_days=int_setting("EOD_CLOSURE_COOLING_OFF_DAYS", 30),
            sanctions_action=action,
            # absolute: dbt runs from the project root (a chdir) while a capture may be
            # reading and writing here in another thread
            state_dir=Path(os.environ.get("EOD_STATE_DIR") or DEFAULT_STATE_DIR).absolute(),
            max_freezes=int_setting("EOD_MAX_FREEZES", 100),
        )

    def require_real_close(self) -> None:
        """Refuse a real close that would need a simulator or a generated key."""
        missing = [
            name
            for name, value in (
                ("EOD_ME_URL", self.me_url),
                ("EOD_CUSTODY_URL", self.custody_url),
                ("EOD_CUSTODY_TOKEN", self.custody_token),
                ("EOD_STAKING_RPC_URL", self.staking_rpc_url),
                ("EOD_STAKING_POOL_ADDRESS", self.staking_pool_address),
                ("EOD_POR_SECRET", self.por_secret),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                "eod close needs " + ", ".join(missing) + " (see README, Configuration)"
            )
