"""Haven platform kit: configuration, database, tenancy, tokens, gRPC, events, telemetry.

No domain logic lives here, and nothing here imports a service or the gateway.
"""
