"""Metrics (Prometheus), traces (OpenTelemetry), JSON logs carrying trace ids."""
