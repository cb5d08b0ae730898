"""mis_import: pupils, staff, groups and attendance from schools' MIS (see README.md)."""
