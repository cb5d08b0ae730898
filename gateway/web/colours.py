"""Category colours as a stylesheet: ``/colours.css?c=aa3300,1d4ed8`` defines ``.c-aa3300``.

The CSP allows no inline style, so lozenges get their colour from this same-origin sheet.
It depends only on its query (no user data), so it is cached for good.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request, url_for

from gateway.present import colour, text_colour

bp = Blueprint("colours", __name__)
MAX_COLOURS = 100


@bp.get("/colours.css")
def sheet():
    wanted = request.args.get("c", "")
    seen: list[str] = []
    for raw in wanted.split(","):
        value = colour(raw)
        if raw and value == raw.lower() and value not in seen:
            seen.append(value)
        if len(seen) >= MAX_COLOURS:
            break
    css = "".join(
        f".c-{v}{{background-color:#{v};color:#{text_colour(v)};border-color:#{v};fill:#{v}}}\n"
        for v in seen
    )
    response = Response(css, mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def colour_class(hex_value: str) -> str:
    """The class for a colour, remembered so the page links the sheet that defines it."""
    value = colour(hex_value)
    used = g.setdefault("colours_used", [])
    if value not in used:
        used.append(value)
    return f"c-{value}"


def colour_sheet_url() -> str | None:
    used = g.get("colours_used") or []
    if not used:
        return None
    return url_for("colours.sheet", c=",".join(sorted(used)))
