"""Reading registry files (divisions, inspectors, subjects) from CSV or XLSX.

Registry clerks keep these lists in Excel, so the reader accepts what Excel on a
Chinese Windows saves: CSV in UTF-8 with or without BOM, CSV in GBK/GB18030, "Unicode
text" (UTF-16, tab-separated) and XLSX. Headers may be English or Chinese. Line numbers
count rows as a spreadsheet shows them, with the header on line 1.
"""

import codecs
import csv
import io
import logging
import os
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import pydantic

from griddispatch.errors import GridDispatchError, ValidationError
from griddispatch.i18n import Phrase, mark
from storage.registry.rows import (
    DIVISION_CODE,
    DivisionRow,
    InspectorRow,
    RowError,
    SubjectRow,
    describe_validation_error,
)

logger = logging.getLogger(__name__)

RegistryKind = Literal["divisions", "inspectors", "subjects"]
# Registry kinds as messages name them to users.
KIND_NAMES: dict[str, Phrase] = {
    "divisions": mark("divisions"),
    "inspectors": mark("inspectors"),
    "subjects": mark("subjects"),
}
RegistryRow = DivisionRow | InspectorRow | SubjectRow

# Column names of each file kind with the Chinese headers accepted for them. The first
# Chinese header is the one error messages suggest. Matching ignores case, spaces,
# underscores, hyphens, full-width forms and a trailing "*" that templates use to mark
# required columns.
HEADER_ALIASES: dict[RegistryKind, dict[str, tuple[str, ...]]] = {
    "divisions": {
        "code": ("区划代码", "区划编码", "代码", "编码"),
        "name": ("区划名称", "名称"),
        "level": ("级别", "层级"),
        "parent_code": ("上级代码", "上级区划代码", "上级编码"),
        "boundary_geojson": ("边界", "网格边界"),
    },
    "inspectors": {
        "code": ("工号", "人员编号"),
        "name": ("姓名",),
        "phone": ("手机号", "手机号码", "联系电话"),
        "role": ("角色", "岗位"),
        "division_code": ("所属区划", "所属区划代码", "所属网格"),
    },
    "subjects": {
        "credit_code": ("统一社会信用代码", "社会信用代码", "信用代码"),
        "other_id": ("其他编号", "其他标识", "主体编号"),
        "name": ("主体名称", "名称"),
        "industry": ("行业", "行业类别"),
        "grid_code": ("网格编码", "网格代码", "所属网格"),
        "inspector_code": ("监管员工号", "责任监管员工号"),
        "longitude": ("经度",),
        "latitude": ("纬度",),
        "coordinate_system": ("坐标系",),
        "address": ("地址", "详细地址"),
        "registered": ("备案状态", "登记备案"),
        "risk_grade": ("风险等级", "风险分级"),
    },
}

_MODELS: dict[RegistryKind, type[RegistryRow]] = {
    "divisions": DivisionRow,
    "inspectors": InspectorRow,
    "subjects": SubjectRow,
}
# A subjects file needs at least one of these identity columns.
_SUBJECT_ID_COLUMNS = ("credit_code", "other_id")
_CSV_SUFFIXES = (".csv", ".txt", ".tsv")
_XLSX_SUFFIXES = (".xlsx", ".xlsm")

Cell = str | None
Record = tuple[int, list[Cell]]


@dataclass
class ParsedFile:
    """The rows of one registry file that passed validation, and the rows that did not."""

    path: Path
    kind: RegistryKind
    # Accepted rows with their spreadsheet line numbers, in file order.
    rows: list[tuple[int, RegistryRow]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # Headers that match no column of the file's kind; their values were not read.
    ignored_columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Header:
    kind: RegistryKind
    # Column name for each cell position that was recognised.
    columns: dict[int, str]
    ignored: list[str]


def read_registry_file(path: str | os.PathLike[str], display_name: str | None = None) -> ParsedFile:
    """Read a CSV or XLSX registry file and validate each row.

    The kind of file is recognised from its header. Rows that fail validation, or that
    repeat a code already used above them, become RowError entries named after
    `display_name` (default: the path as given) while the other rows are still returned.
    Raises ValidationError when the file type, encoding or header is not usable, and
    OSError when the file cannot be read.
    """
    file_path = Path(path)
    label = display_name if display_name is not None else str(path)

    records = _read_records(file_path, label)
    header = _recognise_header(records[0][1], label)
    if header.ignored:
        logger.warning("ignoring unknown columns path=%s columns=%s", label, header.ignored)

    parsed = ParsedFile(path=file_path, kind=header.kind, ignored_columns=header.ignored)
    _parse_rows(records[1:], header, label, parsed)

    logger.info(
        "read registry file path=%s kind=%s rows=%d errors=%d",
        label,
        parsed.kind,
        len(parsed.rows),
        len(parsed.errors),
    )
    return parsed


def _read_records(path: Path, label: str) -> list[Record]:
    suffix = path.suffix.lower()

    if suffix in _CSV_SUFFIXES:
        records = list(_read_csv(path, label))
    elif suffix in _XLSX_SUFFIXES:
        records = list(_read_xlsx(path, label))
    elif suffix == ".xls":
        raise ValidationError(
            'registry file "{label}" is an old Excel 97-2003 workbook, which is not supported; '
            "save it as .xlsx or CSV",
            label=label,
        )
    else:
        raise ValidationError(
            'registry file "{label}" has unsupported type "{suffix}"; give a .csv or .xlsx file',
            label=label,
            suffix=path.suffix,
        )

    if not records or not any(records[0][1]):
        raise ValidationError(
            'registry file "{label}" has no header on line 1; put the column names in the '
            "first row",
            label=label,
        )

    return records


def _read_csv(path: Path, label: str) -> Iterator[Record]:
    text = _decode(path.read_bytes(), label)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for line, cells in enumerate(reader, start=1):
        yield line, [_cell_text(cell) for cell in cells]


def _decode(data: bytes, label: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.debug("registry file is not UTF-8, decoding as GB18030 path=%s", label)

    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as error:
        raise ValidationError(
            'registry file "{label}" is neither UTF-8 nor GBK/GB18030 text '
            "(undecodable byte at offset {offset}); save it as CSV UTF-8 or as .xlsx",
            label=label,
            offset=error.start,
        ) from error


def _read_xlsx(path: Path, label: str) -> Iterator[Record]:
    # Imported here because openpyxl takes about half a second to import on a
    # 2.0 GHz core, and most processes that import the registry never read a workbook.
    import openpyxl  # noqa: PLC0415
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException) as error:
        raise ValidationError(
            'registry file "{label}" is not a readable .xlsx workbook ({error}); '
            "open it in Excel and save it again as .xlsx",
            label=label,
            error=error,
        ) from error

    try:
        sheet = workbook.worksheets[0]
        # Some writers store a wrong sheet size, which would cut rows off in read-only mode.
        sheet.reset_dimensions()
        # Read-only sheets also yield a row without values for each blank row, so counting
        # keeps line numbers equal to the row numbers Excel shows.
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, [_cell_text(value) for value in values]
    finally:
        workbook.close()


def _cell_text(value: object) -> Cell:
    if value is None:
        return None

    if isinstance(value, float) and value.is_integer():
        # Excel stores typed-in codes such as 150602001 as numbers.
        text = str(int(value))
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    else:
        text = str(value)

    text = text.strip()
    return text or None


def _header_key(text: str) -> str:
    key = unicodedata.normalize("NFKC", text).strip().lower().rstrip("*")
    for separator in (" ", "_", "-"):
        key = key.replace(separator, "")
    return key


def _recognise_header(cells: Sequence[Cell], label: str) -> _Header:
    candidates = [_match_header(kind, cells) for kind in HEADER_ALIASES]
    complete = [header for header in candidates if not _missing_columns(header)]

    if len(complete) == 1:
        _reject_duplicate_columns(complete[0], cells, label)
        return complete[0]

    raise _header_error(candidates, complete, cells, label)


def _header_error(
    candidates: list[_Header], complete: list[_Header], cells: Sequence[Cell], label: str
) -> ValidationError:
    found = ", ".join(cell for cell in cells if cell) or "no column names"

    if len(complete) > 1:
        kinds = " and ".join(header.kind for header in complete)
        return ValidationError(
            'registry file "{label}" has a header that fits {kinds} at once ({found}); '
            "keep only the columns of one kind",
            label=label,
            kinds=kinds,
            found=found,
        )

    closest = max(candidates, key=lambda header: len(header.columns))
    if len(closest.columns) >= 2:
        missing = ", ".join(_missing_columns(closest))
        return ValidationError(
            'registry file "{label}" looks like a {kind} file but has no column for '
            "{missing} (header: {found}); add the missing columns",
            label=label,
            kind=closest.kind,
            missing=missing,
            found=found,
        )

    return ValidationError(
        'registry file "{label}" has an unrecognised header ({found}). '
        "Expected the columns of one kind: {expected}",
        label=label,
        found=found,
        expected=_describe_expected_columns(),
    )


def _match_header(kind: RegistryKind, cells: Sequence[Cell]) -> _Header:
    lookup = _alias_lookup(kind)
    columns: dict[int, str] = {}
    ignored: list[str] = []

    for index, cell in enumerate(cells):
        if cell is None:
            continue

        column = lookup.get(_header_key(cell))
        if column is None:
            ignored.append(cell)
        else:
            columns[index] = column

    return _Header(kind=kind, columns=columns, ignored=ignored)


def _alias_lookup(kind: RegistryKind) -> dict[str, str]:
    lookup: dict[str, str] = {}

    for column, aliases in HEADER_ALIASES[kind].items():
        for alias in (column, *aliases):
            lookup[_header_key(alias)] = column

    return lookup


def _missing_columns(header: _Header) -> list[str]:
    """Describe each required column that the header lacks, as "column/Chinese header"."""
    present = set(header.columns.values())
    model = _MODELS[header.kind]
    required = [name for name, info in model.model_fields.items() if info.is_required()]
    missing = [_describe_column(header.kind, name) for name in required if name not in present]

    if header.kind == "subjects" and present.isdisjoint(_SUBJECT_ID_COLUMNS):
        names = [_describe_column(header.kind, name) for name in _SUBJECT_ID_COLUMNS]
        missing.append(" or ".join(names))

    return missing


def _reject_duplicate_columns(header: _Header, cells: Sequence[Cell], label: str) -> None:
    first_cell: dict[str, int] = {}

    for index, column in header.columns.items():
        if column in first_cell:
            raise ValidationError(
                'registry file "{label}" has two columns for {column}: '
                '"{first}" and "{second}"; delete one of them',
                label=label,
                column=column,
                first=cells[first_cell[column]],
                second=cells[index],
            )
        first_cell[column] = index


def _describe_column(kind: RegistryKind, column: str) -> str:
    aliases = HEADER_ALIASES[kind].get(column)
    return column if aliases is None else f"{column}/{aliases[0]}"


def _describe_expected_columns() -> str:
    descriptions = []

    for kind, columns in HEADER_ALIASES.items():
        names = ", ".join(_describe_column(kind, column) for column in columns)
        descriptions.append(f"{kind} ({names})")

    return "; ".join(descriptions)


def _parse_rows(records: list[Record], header: _Header, label: str, parsed: ParsedFile) -> None:
    model = _MODELS[header.kind]
    # First line on which each unique key (kind of key, value) appeared.
    seen: dict[tuple[str, str], int] = {}

    for line, cells in records:
        if not any(cells):
            continue

        values = {
            column: cells[index]
            for index, column in header.columns.items()
            if index < len(cells) and cells[index] is not None
        }

        try:
            row = model.model_validate(values)
        except pydantic.ValidationError as error:
            parsed.errors.append(RowError(label, line, describe_validation_error(error)))
            continue

        duplicate = _find_duplicate(row, line, seen)
        if duplicate is not None:
            parsed.errors.append(RowError(label, line, duplicate))
            continue

        parsed.rows.append((line, row))


def _unique_keys(row: RegistryRow) -> list[tuple[str, str]]:
    if isinstance(row, DivisionRow):
        return [(DIVISION_CODE, row.code)]

    if isinstance(row, InspectorRow):
        return [(mark("staff id"), row.code)]

    keys: list[tuple[str, str | None]] = [
        (mark("credit code"), row.credit_code),
        ("other_id", row.other_id),
    ]
    return [(name, value) for name, value in keys if value is not None]


def _find_duplicate(
    row: RegistryRow, line: int, seen: dict[tuple[str, str], int]
) -> GridDispatchError | None:
    keys = _unique_keys(row)

    for name, value in keys:
        first_line = seen.get((name, value))
        if first_line is not None:
            return ValidationError(
                '{name} "{value}" is already used on line {first_line}; each must be unique',
                name=name,
                value=value,
                first_line=first_line,
            )

    for key in keys:
        seen[key] = line

    return None
