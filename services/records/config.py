"""Variables the records service reads (prefix RECORDS_); shared ones in shared.config.

RECORDS_DATABASE_URL   default sqlite:///var/records.db (HAVEN_VAR_DIR)
RECORDS_GRPC_PORT      default 50052
RECORDS_METRICS_PORT   default 9102
"""

from shared.config import ServiceSettings


def load() -> ServiceSettings:
    return ServiceSettings.from_env("records")
