"""notifications: emails to staff (alerts for now) and their delivery log (see README.md)."""
