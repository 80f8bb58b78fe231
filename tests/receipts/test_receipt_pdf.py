"""Inspection receipts rendered to PDF: content, embedded font, page breaks and the rendered page.

The Chinese labels come from the zh_CN catalog, so these tests fail until the
receipt messages are translated there.
"""

import dataclasses
import io
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, PdfObject

from bots import receipt_pdf
from bots.receipt_pdf import CJK_FONT_PATH, FALLBACK_FONT_NAME, render_receipt
from storage.results.receipts import Receipt, ReceiptItem

RENDER_DPI = 100
MM_PER_INCH = 25.4
DARK_LEVEL = 128  # grey levels below this count as ink
PRODUCTION_RECORD = (
    "建立农产品生产记录，如实记载使用农业投入品的名称、来源、用法、用量和使用、停用的日期"
)
FAILED_NOTE = "2026年3月至4月的用药记录缺失"
needs_cjk_font = pytest.mark.skipif(
    not CJK_FONT_PATH.is_file(), reason=f"{CJK_FONT_PATH} missing; install fonts-wqy-microhei"
)

RECEIPT = Receipt(
    result_id=7,
    task_id=42,
    task_title="春季例行巡查",
    verification_code="K7M2P9QX",
    # 02:30 UTC is 10:30 China Standard Time.
    submitted_at=datetime(2026, 5, 12, 2, 30, tzinfo=UTC),
    inspector_name="张伟",
    inspector_code="NM-0123",
    subject_name="鄂尔多斯市绿源种植专业合作社",
    subject_credit_code="93150602MA0N1234X5",
    subject_address="内蒙古自治区鄂尔多斯市东胜区交通街道1号",
    checklist_title="种植主体现场检查表",
    checklist_version="2026.1",
    items=[
        ReceiptItem("PL01", "持有营业执照", "pass", None),
        ReceiptItem("PL02", PRODUCTION_RECORD, "fail", FAILED_NOTE),
        ReceiptItem("PL03", "使用农药按标签规定的安全间隔期采收", "na", "本季尚未采收"),
    ],
    opinion="生产记录不完整，限七日内补齐。",
    compliant=False,
    latitude=39.817234,
    longitude=109.981456,
    distance_m=85.4,
    location_flagged=False,
    photo_count=3,
)


def _receipt(**changes: Any) -> Receipt:
    return dataclasses.replace(RECEIPT, **changes)


def _many_items(count: int) -> list[ReceiptItem]:
    """Return `count` items of one to three repetitions of an item text, answers in turn."""
    answers = ("pass", "fail", "na")
    return [
        ReceiptItem(
            f"PL{number:02d}",
            PRODUCTION_RECORD * (1 + number % 3),
            answers[number % 3],
            f"第{number}项备注",
        )
        for number in range(1, count + 1)
    ]


def _page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _text(pdf: bytes) -> str:
    return "\n".join(_page_texts(pdf))


def _page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def _dictionary(value: object) -> DictionaryObject:
    """Resolve an indirect reference and check that it is a PDF dictionary."""
    resolved = value.get_object() if isinstance(value, PdfObject) else value
    assert isinstance(resolved, DictionaryObject), f"expected a dictionary, got {resolved!r}"
    return resolved


def _fonts(pdf: bytes) -> list[DictionaryObject]:
    """Return every font dictionary the pages use, with CID fonts' descendant fonts."""
    fonts: list[DictionaryObject] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = _dictionary(page["/Resources"])
        for reference in _dictionary(resources["/Font"]).values():
            font = _dictionary(reference)
            fonts.append(font)
            descendants = font.get("/DescendantFonts", ArrayObject()).get_object()
            assert isinstance(descendants, ArrayObject)
            fonts += [_dictionary(child) for child in descendants]
    return fonts


def _embedded_font_files(pdf: bytes) -> set[str]:
    """Return the FontFile keys (/FontFile, /FontFile2, /FontFile3) of all font descriptors."""
    keys: set[str] = set()
    for font in _fonts(pdf):
        if "/FontDescriptor" in font:
            descriptor = _dictionary(font["/FontDescriptor"])
            keys |= {str(key) for key in descriptor if str(key).startswith("/FontFile")}
    return keys


def _base_fonts(pdf: bytes) -> set[str]:
    return {str(font["/BaseFont"]) for font in _fonts(pdf)}


def _first_page_image(pdf: bytes, png_path: Path) -> Image.Image:
    """Render page 1 in greyscale at RENDER_DPI and save it as a PNG."""
    document = pypdfium2.PdfDocument(pdf)
    image: Image.Image = document[0].render(scale=RENDER_DPI / 72).to_pil().convert("L")
    document.close()
    image.save(png_path)
    return image


def _dark_pixels(image: Image.Image, top_mm: float, bottom_mm: float) -> int:
    """Count ink pixels in the full-width band between two distances from the page top."""
    top = round(top_mm / MM_PER_INCH * RENDER_DPI)
    bottom = round(bottom_mm / MM_PER_INCH * RENDER_DPI)
    band = image.crop((0, top, image.width, bottom))
    return sum(band.histogram()[:DARK_LEVEL])


def _row_text(text: str, code: str, next_code: str) -> str:
    """Return the extracted text from one item's code up to the next item's code."""
    start = text.index(code)
    return text[start : text.index(next_code, start)]


def test_receipt_text_has_key_fields() -> None:
    text = _text(render_receipt(RECEIPT))

    assert "农产品质量安全现场检查回执" in text
    assert "鄂尔多斯市绿源种植专业合作社" in text
    assert "93150602MA0N1234X5" in text
    assert "交通街道1号" in text
    assert "张伟" in text
    assert "NM-0123" in text
    assert "K7M2P9QX" in text
    assert "指挥中心可凭核验码" in text
    assert "种植主体现场检查表" in text
    assert "2026.1" in text
    assert "3 张" in text
    assert "生产记录不完整" in text
    for item in RECEIPT.items:
        assert item.code in text


def test_failed_item_shows_fail_and_note() -> None:
    text = _text(render_receipt(RECEIPT))

    failed_row = _row_text(text, "PL02", "PL03")
    passed_row = _row_text(text, "PL01", "PL02")
    assert "不合格" in failed_row
    assert FAILED_NOTE in failed_row
    assert "合格" in passed_row
    assert "不合格" not in passed_row
    assert "不适用" in text[text.index("PL03") :]


def test_overall_conclusion_follows_compliance() -> None:
    failing = _text(render_receipt(RECEIPT))
    passing = _text(render_receipt(_receipt(compliant=True)))

    assert "发现问题，需整改" in failing
    assert "符合要求" not in failing
    assert "符合要求" in passing
    assert "发现问题" not in passing


def test_time_shown_in_china_standard_time() -> None:
    text = _text(render_receipt(RECEIPT))

    assert "2026-05-12 10:30" in text
    assert "北京时间" in text


def test_location_and_distance_shown() -> None:
    text = _text(render_receipt(RECEIPT))

    assert "39.817234" in text
    assert "109.981456" in text
    assert "距登记位置 85 米" in text
    assert "超出允许范围" not in text


def test_flagged_location_is_marked() -> None:
    text = _text(render_receipt(_receipt(distance_m=1250.4, location_flagged=True)))

    assert "距登记位置 1250 米" in text
    assert "超出允许范围" in text


@needs_cjk_font
def test_cjk_font_is_embedded() -> None:
    pdf = render_receipt(RECEIPT)

    assert "/FontFile2" in _embedded_font_files(pdf)
    assert not any(FALLBACK_FONT_NAME in name for name in _base_fonts(pdf))


def test_missing_font_falls_back_with_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(receipt_pdf, "CJK_FONT_PATH", tmp_path / "missing.ttc")

    with caplog.at_level(logging.WARNING, logger=receipt_pdf.__name__):
        pdf = render_receipt(RECEIPT)

    assert any(FALLBACK_FONT_NAME in name for name in _base_fonts(pdf))
    assert not _embedded_font_files(pdf)
    assert "missing.ttc" in caplog.text
    assert "fonts-wqy-microhei" in caplog.text


def test_rendered_title_is_not_blank(tmp_path: Path) -> None:
    png_path = tmp_path / "receipt-page-1.png"

    image = _first_page_image(render_receipt(RECEIPT), png_path)

    assert png_path.stat().st_size > 0
    # The top margin is 18 mm and the 18 pt title line sits just below it.
    assert _dark_pixels(image, top_mm=2, bottom_mm=15) == 0
    assert _dark_pixels(image, top_mm=17, bottom_mm=28) > 1000


def test_long_texts_wrap_inside_the_page(tmp_path: Path) -> None:
    long_item = ReceiptItem("PL09", PRODUCTION_RECORD * 5, "fail", "X" * 300)
    receipt = _receipt(subject_address="交通街道" * 60, items=[long_item])

    image = _first_page_image(render_receipt(receipt), tmp_path / "long-texts.png")

    margin_left = image.width - round(15 / MM_PER_INCH * RENDER_DPI)
    right_margin = image.crop((margin_left, 0, image.width, image.height))
    assert sum(right_margin.histogram()[:DARK_LEVEL]) == 0


def test_long_checklist_breaks_pages() -> None:
    items = _many_items(40)

    pdf = render_receipt(_receipt(items=items))

    text = _text(pdf)
    pages = _page_count(pdf)
    assert pages > 1
    for item in items:
        assert item.code in text
    assert f"第 1 页，共 {pages} 页" in text
    assert f"第 {pages} 页，共 {pages} 页" in text


def test_item_headings_once_per_page() -> None:
    # The three-line flagged location shifts the first page break so that it
    # falls inside an item row.
    receipt = _receipt(items=_many_items(40), distance_m=1250.4, location_flagged=True)

    page_texts = _page_texts(render_receipt(receipt))

    for number, page_text in enumerate(page_texts, start=1):
        headings = page_text.count("编号")
        assert headings == 1, f"page {number} shows the item headings {headings} times"


def test_note_longer_than_a_page_splits() -> None:
    note = "记录缺失" * 1500 + "备注结束"
    receipt = _receipt(items=[ReceiptItem("PL01", "持有营业执照", "fail", note)])

    pdf = render_receipt(receipt)

    assert _page_count(pdf) > 1
    assert "备注结束" in _text(pdf)


def test_receipt_without_subject_or_location() -> None:
    receipt = _receipt(
        subject_name=None,
        subject_credit_code=None,
        subject_address=None,
        latitude=None,
        longitude=None,
        distance_m=None,
    )

    text = _text(render_receipt(receipt))

    assert "本任务无检查对象" in text
    assert "统一社会信用代码" not in text
    assert "未发送位置" in text
    assert "K7M2P9QX" in text


def test_receipt_without_checklist() -> None:
    receipt = _receipt(checklist_title=None, checklist_version="", items=[], opinion="")

    text = _text(render_receipt(receipt))

    assert "无检查表" in text
    assert "无检查项目" in text
    assert "检查意见" in text


def test_markup_characters_shown_literally() -> None:
    note = "<b>残留 & 超标</b>"

    text = _text(render_receipt(_receipt(items=[ReceiptItem("PL01", "抽检", "fail", note)])))

    assert note in text


def test_english_locale_uses_english_labels() -> None:
    text = _text(render_receipt(RECEIPT, locale="en"))

    assert "On-site inspection receipt" in text
    assert "Problems found, rectification required" in text
    assert "鄂尔多斯市绿源种植专业合作社" in text


def test_item_summary_counts_answers() -> None:
    text = _text(render_receipt(_receipt(items=_many_items(10))))

    # Items 3, 6 and 9 pass, items 1, 4, 7 and 10 fail, and items 2, 5 and 8 are not applicable.
    assert "合格 3 项，不合格 4 项，不适用 3 项" in text
