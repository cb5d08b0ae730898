"""Variables the transfers service reads (prefix TRANSFERS_); shared ones in shared.config."""

from shared.config import ServiceSettings


def load() -> ServiceSettings:
    return ServiceSettings.from_env("transfers")
