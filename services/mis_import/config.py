"""Variables the mis_import service reads (prefix MIS_IMPORT_); shared ones in shared.config.

- MIS_IMPORT_DATABASE_URL (sqlite:///var/mis_import.db): this service's database.
- MIS_IMPORT_GRPC_PORT (50054), MIS_IMPORT_METRICS_PORT (9104).
"""

from shared.config import ServiceSettings


def load() -> ServiceSettings:
    return ServiceSettings.from_env("mis_import")
