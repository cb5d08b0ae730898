"""Security headers on every response; CSRF protection for every form."""

from __future__ import annotations

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

# Same origin only, no inline script or style anywhere (JS and CSS are static files).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), publickey-credentials-get=(self)"
)
# Responses that may be cached: static files and the category colour sheet (no user data).
CACHEABLE_PREFIXES = ("/static/", "/colours.css")


def init_app(app: Flask, *, secure: bool) -> None:
    @app.after_request
    def _headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "same-origin"
        h["X-Frame-Options"] = "DENY"
        h["Permissions-Policy"] = PERMISSIONS_POLICY
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        if secure:
            h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if not request.path.startswith(CACHEABLE_PREFIXES):
            h["Cache-Control"] = "no-store"
            h["Pragma"] = "no-cache"
            h.add("Vary", "Cookie")
        return response
