"""What a command needs to run: settings and the resolved service URLs.

Resolving a URL may start an embedded service (see eod.embedded); it is done on
first use so that commands which need no database start nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from eod import embedded
from eod.config import Settings


@dataclass
class Context:
    settings: Settings = field(default_factory=Settings.from_env)

    @cached_property
    def database_url(self) -> str:
        return embedded.database_url(self.settings)

    @cached_property
    def nats_url(self) -> str:
        return embedded.nats_url(self.settings)
