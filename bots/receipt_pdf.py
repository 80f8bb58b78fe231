"""Render an inspection receipt (检查回执) as an A4 PDF that inspectors forward or print.

Chinese text uses WenQuanYi Micro Hei from Debian's fonts-wqy-microhei (Apache-2.0 or
GPL-3+ with the font exception), embedded as a subset so that any PDF viewer shows it.
Without that file the receipt falls back to reportlab's STSong-Light CID font, which is
not embedded: only viewers with Adobe's Chinese font pack (Acrobat, Reader) show it.
"""

import functools
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from griddispatch.i18n import DEFAULT_LOCALE, Translator, mark
from griddispatch.labels import local_time
from storage.results.receipts import Receipt, ReceiptItem

log = logging.getLogger(__name__)

CJK_FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
EMBEDDED_FONT_NAME = "WenQuanYiMicroHei"
FALLBACK_FONT_NAME = "STSong-Light"

MARGIN = 18 * mm
CONTENT_WIDTH = A4[0] - 2 * MARGIN
HEADER_LABEL_WIDTH = 38 * mm
# Code, item text, conclusion and note columns of the items table, adding up to CONTENT_WIDTH.
ITEM_COLUMN_WIDTHS = (16 * mm, 74 * mm, 20 * mm, CONTENT_WIDTH - 110 * mm)

RED = colors.HexColor("#B00020")
GREEN = colors.HexColor("#1B5E20")
FLAG_BACKGROUND = colors.HexColor("#FDECEA")
LABEL_BACKGROUND = colors.HexColor("#F2F2F2")
GRID_COLOR = colors.HexColor("#808080")

ANSWER_LABELS = {
    "pass": mark("Pass"),
    "fail": mark("Fail"),
    "na": mark("Not applicable"),
}


@dataclass(frozen=True)
class _Styles:
    """Paragraph styles of a receipt, all in the one CJK font."""

    font: str
    title: ParagraphStyle
    section: ParagraphStyle
    body: ParagraphStyle
    cell: ParagraphStyle
    code: ParagraphStyle


def render_receipt(receipt: Receipt, *, locale: str = DEFAULT_LOCALE) -> bytes:
    """Render `receipt` as an A4 PDF in `locale` and return the file's bytes.

    Long checklists and long notes continue on further pages, and every page
    carries the verification code and "page N of M" in its footer.
    """
    _ = Translator(locale)
    styles = _make_styles(_register_cjk_font(CJK_FONT_PATH))
    page_count = _layout(receipt, _, styles, page_count=None)[1]
    return _layout(receipt, _, styles, page_count=page_count)[0]


@functools.cache
def _register_cjk_font(path: Path) -> str:
    """Register the receipt font with reportlab and return its name.

    Cached per path, so a missing font file is warned about once per process.
    """
    if path.is_file():
        pdfmetrics.registerFont(TTFont(EMBEDDED_FONT_NAME, str(path), subfontIndex=0))
        return EMBEDDED_FONT_NAME
    log.warning(
        "CJK font file %s not found, so receipts use %s, which is not embedded: viewers "
        "without Adobe's Chinese font pack show no Chinese. Install fonts-wqy-microhei.",
        path,
        FALLBACK_FONT_NAME,
    )
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT_NAME))
    return FALLBACK_FONT_NAME


def _make_styles(font: str) -> _Styles:
    # wordWrap="CJK" breaks lines between any two characters, which Chinese needs
    # and which also breaks long codes and URLs that have no spaces.
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    return _Styles(
        font=font,
        title=ParagraphStyle(
            "title", parent=body, fontSize=18, leading=24, alignment=TA_CENTER, spaceAfter=4 * mm
        ),
        section=ParagraphStyle(
            "section", parent=body, fontSize=12, leading=16, spaceBefore=5 * mm, spaceAfter=2 * mm
        ),
        body=body,
        cell=ParagraphStyle("cell", parent=body, fontSize=9, leading=12),
        code=ParagraphStyle("code", parent=body, fontSize=16, leading=20),
    )


def _layout(
    receipt: Receipt, _: Translator, styles: _Styles, *, page_count: int | None
) -> tuple[bytes, int]:
    """Lay the receipt out once and return the PDF and its number of pages.

    The footer shows "page N of M", so the caller lays out once without
    `page_count` (and without footers) to count the pages, then again with it.
    """
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=_("On-site inspection receipt for agricultural product quality and safety"),
        subject=receipt.verification_code,
        author=receipt.inspector_name,
    )
    footer = _footer_drawer(receipt, _, styles, page_count)
    document.build(_story(receipt, _, styles), onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue(), document.page


def _story(receipt: Receipt, _: Translator, styles: _Styles) -> list[Flowable]:
    return [
        Paragraph(
            escape(_("On-site inspection receipt for agricultural product quality and safety")),
            styles.title,
        ),
        _header_table(receipt, _, styles),
        Paragraph(escape(_("Checklist items")), styles.section),
        Paragraph(escape(_item_summary(receipt.items, _)), styles.body),
        Spacer(1, 2 * mm),
        _items_table(receipt.items, _, styles),
        Paragraph(escape(_("Conclusion")), styles.section),
        _conclusion_table(receipt, _, styles),
        Spacer(1, 6 * mm),
        _verification_table(receipt, _, styles),
    ]


def _footer_drawer(
    receipt: Receipt, _: Translator, styles: _Styles, page_count: int | None
) -> Callable[[Canvas, BaseDocTemplate], None]:
    """Return a page callback that draws the footer, or draws nothing without `page_count`."""

    def draw(canvas: Canvas, _document: BaseDocTemplate) -> None:
        if page_count is None:
            return
        text = _(
            "Verification code {code} | page {page} of {pages}",
            code=receipt.verification_code,
            page=canvas.getPageNumber(),
            pages=page_count,
        )
        canvas.saveState()
        canvas.setFont(styles.font, 8)
        canvas.drawCentredString(A4[0] / 2, MARGIN / 2, text)
        canvas.restoreState()

    return draw


def _cell(text: str, style: ParagraphStyle, color: colors.Color | None = None) -> Paragraph:
    """Wrap plain text (not markup) in a paragraph, keeping its line breaks."""
    markup = escape(text).replace("\n", "<br/>")
    if color is not None:
        markup = f'<font color="{color.hexval()}">{markup}</font>'
    return Paragraph(markup, style)


def _header_rows(receipt: Receipt, _: Translator) -> list[tuple[str, str]]:
    rows = [(_("Task"), f"#{receipt.task_id} {receipt.task_title}")]
    if receipt.subject_name is None:
        rows.append((_("Inspected party"), _("No inspected party for this task")))
    else:
        rows += [
            (_("Inspected party"), receipt.subject_name),
            (_("Unified social credit code"), receipt.subject_credit_code or _("Not recorded")),
            (_("Address"), receipt.subject_address or _("Not recorded")),
        ]
    rows += [
        (
            _("Inspector"),
            _("{name} ({code})", name=receipt.inspector_name, code=receipt.inspector_code),
        ),
        (
            _("Inspection time"),
            _("{time} China Standard Time", time=local_time(receipt.submitted_at)),
        ),
        (_("Checklist"), _checklist_text(receipt, _)),
    ]
    return rows


def _header_table(receipt: Receipt, _: Translator, styles: _Styles) -> Table:
    rows: list[list[Flowable]] = [
        [_cell(label, styles.cell), _cell(value, styles.cell)]
        for label, value in _header_rows(receipt, _)
    ]
    rows.append([_cell(_("Inspection location"), styles.cell), _location_cell(receipt, _, styles)])
    table = _grid_table(rows, (HEADER_LABEL_WIDTH, CONTENT_WIDTH - HEADER_LABEL_WIDTH))
    table.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, -1), LABEL_BACKGROUND)]))
    if receipt.location_flagged:
        table.setStyle(TableStyle([("BACKGROUND", (1, -1), (1, -1), FLAG_BACKGROUND)]))
    return table


def _location_cell(receipt: Receipt, _: Translator, styles: _Styles) -> Paragraph:
    if receipt.latitude is None or receipt.longitude is None:
        return _cell(_("No location sent"), styles.cell)
    lines = [
        _(
            "Latitude {latitude}, longitude {longitude} (WGS-84)",
            latitude=f"{receipt.latitude:.6f}",
            longitude=f"{receipt.longitude:.6f}",
        )
    ]
    if receipt.distance_m is not None:
        lines.append(
            _("{distance} m from the registered location", distance=f"{receipt.distance_m:.0f}")
        )
    markup = "<br/>".join(escape(line) for line in lines)
    if receipt.location_flagged:
        flag = escape(_("FLAGGED: farther from the registered location than allowed"))
        markup += f'<br/><font color="{RED.hexval()}">【{flag}】</font>'
    return Paragraph(markup, styles.cell)


def _checklist_text(receipt: Receipt, _: Translator) -> str:
    if not receipt.checklist_version:
        return receipt.checklist_title or _("No checklist")
    title = receipt.checklist_title or _("Unknown checklist")
    return _("{title} (version {version})", title=title, version=receipt.checklist_version)


def _item_summary(items: list[ReceiptItem], _: Translator) -> str:
    if not items:
        return _("No checklist items.")
    return _(
        "{passed} passed, {failed} failed, {na} not applicable.",
        passed=sum(item.answer == "pass" for item in items),
        failed=sum(item.answer == "fail" for item in items),
        na=sum(item.answer == "na" for item in items),
    )


def _items_table(items: list[ReceiptItem], _: Translator, styles: _Styles) -> Flowable:
    if not items:
        return Spacer(1, 0)
    headings = [_("Code"), _("Item"), _("Conclusion"), _("Note")]
    rows: list[list[Flowable]] = [[_cell(text, styles.cell) for text in headings]]
    rows += [_item_row(item, _, styles) for item in items]
    table = _grid_table(rows, ITEM_COLUMN_WIDTHS, repeat_rows=1)
    table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, 0), LABEL_BACKGROUND)]))
    return table


def _item_row(item: ReceiptItem, _: Translator, styles: _Styles) -> list[Flowable]:
    # An answer outside pass/fail/na is shown as stored rather than hidden.
    label = ANSWER_LABELS.get(item.answer)
    conclusion = _(label) if label else item.answer
    color = RED if item.answer == "fail" else None
    return [
        _cell(item.code, styles.cell),
        _cell(item.text, styles.cell),
        _cell(conclusion, styles.cell, color),
        _cell(item.note or "", styles.cell),
    ]


def _conclusion_table(receipt: Receipt, _: Translator, styles: _Styles) -> Table:
    if receipt.compliant:
        verdict = _cell(_("Meets requirements"), styles.body, GREEN)
    else:
        verdict = _cell(_("Problems found, rectification required"), styles.body, RED)
    rows: list[list[Flowable]] = [
        [_cell(_("Overall conclusion"), styles.cell), verdict],
        [
            _cell(_("Inspection opinion"), styles.cell),
            _cell(receipt.opinion or _("No opinion given"), styles.cell),
        ],
        [
            _cell(_("Photos"), styles.cell),
            _cell(_("{count} photos", count=receipt.photo_count), styles.cell),
        ],
    ]
    table = _grid_table(rows, (HEADER_LABEL_WIDTH, CONTENT_WIDTH - HEADER_LABEL_WIDTH))
    table.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, -1), LABEL_BACKGROUND)]))
    return table


def _verification_table(receipt: Receipt, _: Translator, styles: _Styles) -> Table:
    rows: list[list[Flowable]] = [
        [_cell(_("Verification code"), styles.body), _cell(receipt.verification_code, styles.code)],
        [
            _cell(
                _("The command centre can look this receipt up by its verification code."),
                styles.cell,
            ),
            Spacer(1, 0),
        ],
    ]
    style = TableStyle(
        [
            ("SPAN", (0, 1), (1, 1)),
            ("BOX", (0, 0), (-1, -1), 1, colors.black),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            # The code and the sentence that explains it stay on one page.
            ("NOSPLIT", (0, 0), (-1, -1)),
        ]
    )
    widths = [HEADER_LABEL_WIDTH, CONTENT_WIDTH - HEADER_LABEL_WIDTH]
    return Table(rows, colWidths=widths, style=style)


def _grid_table(
    rows: list[list[Flowable]], widths: tuple[float, ...], *, repeat_rows: int = 0
) -> Table:
    """Build a ruled table that breaks pages inside a row, as word processors do.

    Splitting inside rows lets a row taller than a page (a note of a few
    thousand characters) continue on the next page instead of failing the
    layout. splitByRow=0 makes reportlab 5.1 split inside the row at the page
    end first: with splitByRow=1 it splits at a row boundary and then splits
    the rest again in the space left, which draws the repeated headings twice
    on that page.
    """
    table = Table(rows, colWidths=list(widths), repeatRows=repeat_rows, splitByRow=0, splitInRow=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, GRID_COLOR),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table
