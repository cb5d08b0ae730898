"""One incident and its actions as an A4 PDF (the print view's download), drawn with
reportlab platypus. Presentation only: a records ``IncidentPrint`` reply in, PDF bytes out;
no I/O and no gRPC here. Every piece of user text is XML-escaped before it reaches a
``Paragraph`` (whose mark-up would otherwise read ``<`` and ``&``) and keeps its line
breaks."""

from __future__ import annotations

import functools
import io
import logging
import os
import re
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as pdf_canvas
from reportlab.platypus import (
    HRFlowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from gateway.present import format_when, student_name, to_local

log = logging.getLogger(__name__)
MARGIN = 18 * mm
CONFIDENTIAL = "Confidential: safeguarding record."
# C0 controls other than tab and newline, DEL and C1 controls: not text, and reportlab's
# paragraph parser may refuse some of them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9-]+")
# A Unicode font when the system has one (Debian's fonts-dejavu-core): the PDF standard
# fonts only cover Latin-1, so names such as "Łukasz" would print as boxes.
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
             "/usr/local/share/fonts")
_FACES = {"": "DejaVuSans.ttf", "-Bold": "DejaVuSans-Bold.ttf",
          "-Oblique": "DejaVuSans-Oblique.ttf", "-BoldOblique": "DejaVuSans-BoldOblique.ttf"}


@functools.cache
def fonts() -> tuple[str, str]:
    """(regular, bold) font names: DejaVu Sans when found, else Helvetica."""
    for folder in FONT_DIRS:
        paths = {face: os.path.join(folder, file) for face, file in _FACES.items()}
        if not (os.path.isfile(paths[""]) and os.path.isfile(paths["-Bold"])):
            continue
        try:
            for face, path in paths.items():
                source = path if os.path.isfile(path) else paths["-Bold" if "Bold" in face
                                                                  else ""]
                pdfmetrics.registerFont(TTFont(f"HavenSans{face}", source))
        except Exception:  # noqa: BLE001 - an unreadable font: the standard one will do
            log.warning("PDF font in %s unreadable; trying the next", folder, exc_info=True)
            continue
        pdfmetrics.registerFontFamily("HavenSans", normal="HavenSans", bold="HavenSans-Bold",
                                      italic="HavenSans-Oblique",
                                      boldItalic="HavenSans-BoldOblique")
        return "HavenSans", "HavenSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    regular, bold = fonts()
    body = ParagraphStyle("haven-body", parent=base["BodyText"], fontName=regular,
                          fontSize=10, leading=13.5, alignment=TA_LEFT, spaceBefore=0,
                          spaceAfter=0)
    return {
        "school": ParagraphStyle("haven-school", parent=body, fontSize=9, textColor=colors.grey),
        "title": ParagraphStyle("haven-title", parent=base["Heading1"], fontName=bold,
                                fontSize=16, leading=20, spaceBefore=2, spaceAfter=2),
        "h2": ParagraphStyle("haven-h2", parent=base["Heading2"], fontName=bold,
                             fontSize=12.5, leading=16, spaceBefore=10, spaceAfter=4),
        "meta": ParagraphStyle("haven-meta", parent=body, fontSize=9, leading=12,
                               textColor=colors.HexColor("#444444")),
        "label": ParagraphStyle("haven-label", parent=body, fontName=bold,
                                fontSize=9, leading=12),
        "value": ParagraphStyle("haven-value", parent=body, fontSize=9.5, leading=12.5),
        "body": body,
        "action-head": ParagraphStyle("haven-action-head", parent=body, fontSize=9.5,
                                      leading=12.5, spaceBefore=2),
    }


def clean(value: str) -> str:
    """Text as it can be printed: no control characters, tabs as spaces, one kind of line
    break."""
    value = (value or "").replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return _CONTROL.sub("", value)


def markup(value: str) -> str:
    """Plain text -> safe Paragraph mark-up with its line breaks kept."""
    return escape(clean(value)).replace("\n", "<br/>")


def text_blocks(value: str, style: ParagraphStyle) -> list:
    """Long text as one Paragraph per line (empty lines become space), which reportlab lays
    out and splits across pages far faster than one huge paragraph."""
    lines = clean(value).split("\n")
    blocks: list = []
    for line in lines:
        if line.strip():
            # keep leading indentation visible
            stripped = line.lstrip(" ")
            indent = "&nbsp;" * (len(line) - len(stripped))
            blocks.append(Paragraph(indent + escape(stripped), style))
        else:
            blocks.append(Spacer(1, style.leading * 0.6))
    while blocks and isinstance(blocks[-1], Spacer):
        blocks.pop()
    return blocks or [Paragraph("<i>(no text)</i>", style)]


def _names(items) -> str:
    return ", ".join(clean(i.name) for i in items if i.name)


def _facts(rows: list[tuple[str, str]], styles) -> Table:
    data = [[Paragraph(escape(label), styles["label"]), Paragraph(markup(value), styles["value"])]
            for label, value in rows if value]
    table = Table(data, colWidths=[32 * mm, None], hAlign="LEFT")
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]))
    return table


def _footer_canvas(footer: str):
    """A canvas that holds its pages back until the end so each can say "Page n of N"."""

    class FooterCanvas(pdf_canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._draw_footer(number, total)
                super().showPage()
            super().save()

        def _draw_footer(self, number: int, total: int) -> None:
            width, _ = self._pagesize
            self.saveState()
            self.setStrokeColor(colors.lightgrey)
            self.setLineWidth(0.5)
            self.line(MARGIN, 14 * mm, width - MARGIN, 14 * mm)
            self.setFont(fonts()[0], 8)
            self.setFillColor(colors.HexColor("#444444"))
            self.drawString(MARGIN, 10 * mm, footer)
            self.drawRightString(width - MARGIN, 10 * mm, f"Page {number} of {total}")
            self.restoreState()

    return FooterCanvas


def filename(printed, zone: ZoneInfo) -> str:
    """incident-<number>-<date>.pdf: ASCII only, and no student's name in a download list."""
    incident = printed.incident
    ref = str(incident.number) if incident.number else (incident.id or "")[:8]
    day = to_local(printed.printed_at, zone)
    stamp = day.strftime("%Y-%m-%d") if day else ""
    name = _SAFE_NAME.sub("-", "-".join(p for p in ("incident", ref, stamp) if p)).strip("-")
    return f"{name or 'incident'}.pdf"


def download_headers(printed, zone: ZoneInfo) -> dict[str, str]:
    """Headers for sending the PDF: a download with a safe name, never cached."""
    return {"Content-Disposition": f'attachment; filename="{filename(printed, zone)}"',
            "Cache-Control": "no-store"}


def incident_pdf(printed, *, zone: ZoneInfo, school_name: str = "") -> bytes:
    """The PDF of an ``IncidentPrint`` (the incident with the actions the caller may see).
    ``zone`` is the school's time zone; ``school_name`` heads the page when known."""
    incident, student = printed.incident, printed.student
    styles = _styles()

    def when(ts) -> str:
        return format_when(to_local(ts, zone))

    name = clean(student_name(student))
    group = clean(student.tutor_group)
    number = f" #{incident.number}" if incident.number else ""
    printed_on = when(printed.printed_at)
    footer = clean(f"Printed by {printed.printed_by_name or 'Unknown'}"
                   + (f" on {printed_on}" if printed_on else "")
                   + f". {CONFIDENTIAL}")

    story: list = []
    if school_name:
        story.append(Paragraph(markup(school_name), styles["school"]))
    story.append(Paragraph(escape(f"Incident{number}: {name}")
                           + (f" ({escape(group)})" if group else ""), styles["title"]))
    details = [p for p in (f"Tutor group {group}" if group else "",
                           clean(student.year_group),
                           f"UPN {clean(student.upn)}" if student.upn else "") if p]
    if details:
        story.append(Paragraph(escape(" · ".join(details)), styles["meta"]))
    story.append(Spacer(1, 3 * mm))
    story.append(HRFlowable(width="100%", thickness=0.6, color=colors.lightgrey,
                            spaceAfter=3 * mm))

    rows = [
        ("Happened", when(incident.occurred_at)),
        ("Recorded by", clean(incident.created_by_name) or "Unknown"),
        ("Recorded on", when(incident.created_at)),
        ("Categories", _names(incident.categories) or "None"),
        ("Status", clean(incident.status or "active").capitalize()),
        ("Assigned to", clean(incident.assigned_to_name) or "Nobody"),
        ("Agencies", _names(incident.agencies)),
        ("Linked students", ", ".join(clean(s.name) for s in incident.linked_students
                                      if s.name)),
    ]
    if incident.deleted:
        rows.append(("Deleted", clean(f"{incident.deleted_reason} "
                                      f"({incident.deleted_by_name}, "
                                      f"{when(incident.deleted_at)})")))
    story.append(_facts(rows, styles))
    story.append(Paragraph("Incident", styles["h2"]))
    story.extend(text_blocks(incident.text, styles["body"]))

    actions = [a for a in incident.actions if not a.deleted]
    story.append(Paragraph(f"Actions ({len(actions)})" if actions else "Actions",
                           styles["h2"]))
    if not actions:
        story.append(Paragraph("<i>No actions.</i>", styles["body"]))
    for action in actions:
        head = f"<b>{escape(clean(action.created_by_name) or 'Unknown')}</b>, " + escape(
            when(action.occurred_at))
        cats = _names(action.categories)
        if cats:
            head += f" · {escape(cats)}"
        agencies = _names(action.agencies)
        if agencies:
            head += f" · Agencies: {escape(agencies)}"
        if action.merged_from_number:
            head += f" · was incident #{action.merged_from_number}"
        text = text_blocks(action.text, styles["body"])
        story.append(KeepTogether([
            HRFlowable(width="100%", thickness=0.4, color=colors.lightgrey, spaceBefore=2 * mm,
                       spaceAfter=1.5 * mm),
            Paragraph(head, styles["action-head"]),
            Spacer(1, 1 * mm),
            *text[:3],
        ]))
        story.extend(text[3:])

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
        bottomMargin=MARGIN + 6 * mm, title=f"Incident{number}", author="Haven",
        subject=CONFIDENTIAL, creator="Haven")
    doc.build(story, canvasmaker=_footer_canvas(footer))
    return out.getvalue()
