"""identity: schools, accounts, memberships, user groups, sessions, second factors, tokens.

See README.md.
"""
