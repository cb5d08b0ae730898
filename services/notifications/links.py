"""Links in emails, and keeping the secret ones out of everything but the email itself.

A password link (identity's ``reset_url_path`` on NOTIFICATIONS_PUBLIC_URL) sets the
password of whoever opens it until it expires. It is written into the email and nowhere
else: never into a log line, a delivery's reason or the delivery log's RPC, and the stored
body loses it once the delivery is settled (sent, failed or skipped).
"""

from __future__ import annotations

import hashlib
import re

# A path of unreserved and sub-delimiter characters only: no whitespace, CR/LF, quotes, angle
# brackets, query or fragment, and never "//" (which would name another host).
_SAFE_PATH = re.compile(r"/(?!/)[A-Za-z0-9._~!$&'()*+,;=:@%/-]{1,1000}")
_URL = re.compile(r"\b(https?://[^\s/<>\"']+)(/[^\s<>\"']*)?", re.IGNORECASE)
HIDDEN = "/[link hidden]"


def password_link(public_url: str, path: str) -> str | None:
    """The link to email, or None when the path is not a plain absolute path."""
    if not _SAFE_PATH.fullmatch(path or ""):
        return None
    return f"{public_url.rstrip('/')}{path}"


def link_key(path: str) -> str:
    """A stable key for one link (sha256 hex), to recognise it again without keeping it."""
    return hashlib.sha256(path.encode()).hexdigest()


def hide_links(text: str) -> str:
    """Every http(s) URL reduced to its origin: ``https://haven.test/[link hidden]``."""
    return _URL.sub(lambda m: m.group(1) + (HIDDEN if m.group(2) else ""), text or "")
