"""Variables the reporting service reads (prefix REPORTING_); shared ones in shared.config.

- REPORTING_DATABASE_URL (sqlite:///var/reporting.db): this service's read model.
- REPORTING_GRPC_PORT (50053), REPORTING_METRICS_PORT (9103).
- HAVEN_RECORDS_ADDR (127.0.0.1:50052): records, asked what each caller may see.
- HAVEN_RPC_TIMEOUT (5): deadline of that call, in seconds.
"""

from shared.config import ServiceSettings


def load() -> ServiceSettings:
    return ServiceSettings.from_env("reporting")
