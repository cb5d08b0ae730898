"""records: students, categories, incidents, alerts, monitoring, audit (see README.md)."""
