"""The web UI: server-rendered pages, one blueprint per area."""
