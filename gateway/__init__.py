"""The gateway: Haven's web UI (server-rendered HTML) and public REST API (/api/v1).

It owns no data and touches no database: every read and write is a gRPC call to the service
that owns the data (identity, records, reporting), carrying the caller's access token.
"""
