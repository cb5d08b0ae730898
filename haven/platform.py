"""Every service of the platform, built from the environment (the only module that imports
all of them, with the CLI and the all-in-one runner)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from shared.config import ServiceSettings
from shared.service import ServiceSpec

log = logging.getLogger(__name__)

# Start order: identity first (every other service verifies tokens against its keys).
SERVICES = ("identity", "records", "reporting", "mis_import", "transfers", "notifications")


def build_service(name: str, settings: ServiceSettings | None = None) -> ServiceSpec:
    module = importlib.import_module(f"services.{name}.app")
    return module.build(settings or ServiceSettings.from_env(name))


@dataclass
class Platform:
    specs: dict[str, ServiceSpec]

    @classmethod
    def from_env(cls, names: tuple[str, ...] = SERVICES) -> Platform:
        return cls({name: build_service(name) for name in names})

    def __iter__(self) -> Iterator[ServiceSpec]:
        return iter(self.specs.values())

    def __getitem__(self, name: str) -> ServiceSpec:
        return self.specs[name]

    def migrate(self) -> None:
        from shared.db import run_migrations

        for spec in self:
            run_migrations(spec.settings.database_url, spec.migrations)
            log.info("migrated %s", spec.name)

    def seed_demo(self) -> None:
        """The demo school: identity's accounts and groups, records' categories and pupils."""
        from services.identity.seed import seed_demo as seed_identity
        from services.records.seed import seed_demo as seed_records

        seed_identity(self["identity"].db, self["identity"].outbox)
        seed_records(self["records"].db, self["records"].outbox)

    def dispose(self) -> None:
        for spec in self:
            spec.db.dispose()
