"""What a close run needs: settings, resolved service URLs and the PoR key."""

from __future__ import annotations

from dataclasses import dataclass

from eod.config import Settings
from eod.context import Context


@dataclass(frozen=True)
class CloseResources:
    settings: Settings
    database_url: str
    nats_url: str | None

    @classmethod
    def from_env(cls) -> CloseResources:
        ctx = Context()
        nats = ctx.settings.nats_url
        return cls(settings=ctx.settings, database_url=ctx.database_url, nats_url=nats)
