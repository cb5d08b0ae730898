"""reporting: a read model built from events, answering the Reporting pages (see README.md)."""
