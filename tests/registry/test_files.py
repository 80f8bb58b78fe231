import csv
import re
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest

from griddispatch.errors import ValidationError
from storage.registry.credit_code import check_character
from storage.registry.files import read_registry_file
from storage.registry.rows import DivisionRow, InspectorRow, SubjectRow


def credit_code(first17: str) -> str:
    return first17 + check_character(first17)


SUBJECT_HEADER = [
    "统一社会信用代码",
    "其他编号",
    "主体名称",
    "行业",
    "网格编码",
    "监管员工号",
    "经度",
    "纬度",
    "坐标系",
    "地址",
]
SUBJECT_RECORDS = [
    [
        credit_code("93150602MA0000001"),
        "",
        "东胜区绿源种植专业合作社",
        "种植",
        "150602001001",
        "JG0001",
        "109.9",
        "39.8",
        "",
        "内蒙古自治区鄂尔多斯市东胜区交通街道育才路1号",
    ],
    ["", "NH15060200001", "张某某（养殖户）", "畜禽养殖", "150602001002", "", "", "", "", ""],
    [
        credit_code("92150621MA0000002"),
        "",
        "达拉特旗丰禾农资经营部",
        "pesticide_store",
        "150621100001",
        "JG0002",
        "110.1",
        "40.3",
        "GCJ-02",
        "内蒙古自治区鄂尔多斯市达拉特旗树林召镇天骄路8号",
    ],
]
BAD_CODE = "91350100M000100Y44"


def write_csv(path: Path, records: Sequence[Sequence[str]], encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as stream:
        csv.writer(stream).writerows(records)
    return path


def write_xlsx(path: Path, records: Sequence[Sequence[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for record in records:
        sheet.append([None if value == "" else value for value in record])
    workbook.save(path)
    return path


def test_csv_encodings_parse_equal(tmp_path: Path) -> None:
    records = [SUBJECT_HEADER, *SUBJECT_RECORDS]
    gbk = write_csv(tmp_path / "gbk.csv", records, "gbk")
    utf8_bom = write_csv(tmp_path / "bom.csv", records, "utf-8-sig")
    utf8 = write_csv(tmp_path / "plain.csv", records, "utf-8")

    parsed = [read_registry_file(path) for path in (gbk, utf8_bom, utf8)]

    assert utf8_bom.read_bytes().startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        gbk.read_bytes().decode("utf-8")
    assert [file.kind for file in parsed] == ["subjects"] * 3
    assert [file.errors for file in parsed] == [[], [], []]
    assert len(parsed[0].rows) == 3
    assert parsed[0].rows == parsed[1].rows
    assert parsed[0].rows == parsed[2].rows


def test_csv_values_decoded_and_normalized(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gbk.csv", [SUBJECT_HEADER, *SUBJECT_RECORDS], "gbk")

    rows = dict(read_registry_file(path).rows)

    first = rows[2]
    assert isinstance(first, SubjectRow)
    assert first.name == "东胜区绿源种植专业合作社"
    assert first.industry == "planting"
    assert first.longitude == 109.9
    second = rows[3]
    assert isinstance(second, SubjectRow)
    assert second.other_id == "NH15060200001"
    assert second.industry == "livestock"
    assert second.longitude is None
    third = rows[4]
    assert isinstance(third, SubjectRow)
    assert third.coordinate_system == "gcj02"


def test_gb18030_only_character(tmp_path: Path) -> None:
    # U+3400 is in GB18030 but not in GBK, so only the GB18030 fallback reads it.
    record = ["", "NH15060200009", "㐀某某（种植户）", "种植", "150602001001", "", "", "", "", ""]
    path = write_csv(tmp_path / "gb18030.csv", [SUBJECT_HEADER, record], "gb18030")

    parsed = read_registry_file(path)

    assert parsed.errors == []
    assert parsed.rows[0][1].name == "㐀某某（种植户）"


def test_utf16_tab_separated(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    lines = ["\t".join(record) for record in [SUBJECT_HEADER, *SUBJECT_RECORDS]]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-16")
    reference = write_csv(tmp_path / "plain.csv", [SUBJECT_HEADER, *SUBJECT_RECORDS], "utf-8")

    parsed = read_registry_file(path)

    assert parsed.errors == []
    assert parsed.rows == read_registry_file(reference).rows


def test_xlsx_parses_like_csv(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "s.csv", [SUBJECT_HEADER, *SUBJECT_RECORDS], "utf-8")
    xlsx_path = write_xlsx(tmp_path / "s.xlsx", [SUBJECT_HEADER, *SUBJECT_RECORDS])

    from_xlsx = read_registry_file(xlsx_path)

    assert from_xlsx.kind == "subjects"
    assert from_xlsx.errors == []
    assert from_xlsx.rows == read_registry_file(csv_path).rows


def test_xlsx_numeric_cells_and_line_numbers(tmp_path: Path) -> None:
    header = ["区划代码", "区划名称", "级别", "上级代码"]
    records: list[Sequence[object]] = [
        header,
        [150600, "鄂尔多斯市", "城市", 150000],
        [],
        [150602, "东胜区", "旗县区", 150600],
        [150602001, "交通街道", "乡镇", 150602],
        [],
        [],
        [150602001001, "交通街道第1网格", "网格", 150602001],
    ]
    path = write_xlsx(tmp_path / "divisions.xlsx", records)

    parsed = read_registry_file(path)

    assert parsed.kind == "divisions"
    assert parsed.errors == []
    assert [line for line, _ in parsed.rows] == [2, 4, 5, 8]
    codes = [row.code for _, row in parsed.rows if isinstance(row, DivisionRow)]
    assert codes == ["150600", "150602", "150602001", "150602001001"]
    assert [row.level for _, row in parsed.rows if isinstance(row, DivisionRow)] == [
        "city",
        "county",
        "township",
        "grid",
    ]


def test_xlsx_bad_row_line_number(tmp_path: Path) -> None:
    bad = list(SUBJECT_RECORDS[2])
    bad[0] = BAD_CODE
    records = [SUBJECT_HEADER, SUBJECT_RECORDS[0], [], bad, SUBJECT_RECORDS[1]]
    path = write_xlsx(tmp_path / "s.xlsx", records)

    parsed = read_registry_file(path)

    assert [str(error) for error in parsed.errors] == [
        f'{path}:4: credit code "{BAD_CODE}" is invalid: check character should be 3; '
        "check the code against the business licence"
    ]
    assert [line for line, _ in parsed.rows] == [2, 5]


def test_bad_credit_code_on_line_3(tmp_path: Path) -> None:
    bad = list(SUBJECT_RECORDS[1])
    bad[0] = BAD_CODE
    records = [SUBJECT_HEADER, SUBJECT_RECORDS[0], bad, SUBJECT_RECORDS[2]]
    path = write_csv(tmp_path / "subjects.csv", records, "utf-8")

    parsed = read_registry_file(path)

    assert len(parsed.errors) == 1
    error = parsed.errors[0]
    assert error.line == 3
    assert str(error).startswith(f'{path}:3: credit code "{BAD_CODE}" is invalid')
    assert "check character should be 3" in error.reason
    assert [line for line, _ in parsed.rows] == [2, 4]


def test_display_name_in_errors(tmp_path: Path) -> None:
    bad = list(SUBJECT_RECORDS[0])
    bad[3] = "渔业"
    path = write_csv(tmp_path / "upload-1234.csv", [SUBJECT_HEADER, bad], "utf-8")

    parsed = read_registry_file(path, display_name="主体名录.csv")

    assert str(parsed.errors[0]).startswith('主体名录.csv:2: industry "渔业" is invalid')


def test_blank_lines_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "subjects.csv"
    lines = [",".join(record) for record in [SUBJECT_HEADER, *SUBJECT_RECORDS]]
    path.write_text("\n".join([lines[0], lines[1], "", ",,,,,,,,,", lines[2], lines[3]]) + "\n")

    parsed = read_registry_file(path)

    assert parsed.errors == []
    assert [line for line, _ in parsed.rows] == [2, 5, 6]


def test_duplicate_staff_id_reported(tmp_path: Path) -> None:
    records = [
        ["工号", "姓名", "手机号", "角色", "所属区划"],
        ["JG0001", "张伟", "13812345678", "监管员", "150602001001"],
        ["JG0002", "乌日娜", "", "网格长", "150602001001"],
        ["JG0001", "李强", "13912345678", "监管员", "150602001002"],
    ]
    path = write_csv(tmp_path / "inspectors.csv", records, "utf-8")

    parsed = read_registry_file(path)

    assert parsed.kind == "inspectors"
    assert [str(error) for error in parsed.errors] == [
        f'{path}:4: staff id "JG0001" is already used on line 2; each must be unique'
    ]
    rows = [row for _, row in parsed.rows if isinstance(row, InspectorRow)]
    assert [row.role for row in rows] == ["inspector", "grid_leader"]
    assert rows[1].phone is None


def test_duplicate_staff_id_in_chinese(tmp_path: Path) -> None:
    records = [
        ["工号", "姓名", "手机号", "角色", "所属区划"],
        ["JG0001", "张伟", "13812345678", "监管员", "150602001001"],
        ["JG0001", "李强", "13912345678", "监管员", "150602001002"],
    ]
    path = write_csv(tmp_path / "inspectors.csv", records, "utf-8")

    parsed = read_registry_file(path)

    assert [error.localized("zh_CN") for error in parsed.errors] == [
        f"{path}:3: 工号“JG0001”已在第 2 行使用；每个值必须唯一"
    ]


def test_duplicate_other_id_reported(tmp_path: Path) -> None:
    records = [SUBJECT_HEADER, SUBJECT_RECORDS[1], SUBJECT_RECORDS[1]]
    path = write_csv(tmp_path / "subjects.csv", records, "utf-8")

    parsed = read_registry_file(path)

    assert [error.line for error in parsed.errors] == [3]
    assert 'other_id "NH15060200001" is already used on line 2' in parsed.errors[0].reason


def test_invalid_phone_masked_in_error(tmp_path: Path) -> None:
    records = [
        ["code", "name", "phone", "role", "division_code"],
        ["JG0001", "张伟", "1381234567", "inspector", "150602001001"],
    ]
    path = write_csv(tmp_path / "inspectors.csv", records, "utf-8")

    parsed = read_registry_file(path)

    assert "1381234567" not in str(parsed.errors[0])
    assert 'phone "138***4567" is invalid' in parsed.errors[0].reason


def test_english_headers_any_case(tmp_path: Path) -> None:
    records = [
        ["Code", "NAME", "Level", "Parent Code"],
        ["150600", "鄂尔多斯市", "city", ""],
    ]
    path = write_csv(tmp_path / "divisions.csv", records, "utf-8")

    parsed = read_registry_file(path)

    assert parsed.kind == "divisions"
    assert parsed.errors == []
    assert parsed.rows[0][1] == DivisionRow(code="150600", name="鄂尔多斯市", level="city")


def test_unknown_columns_ignored(tmp_path: Path) -> None:
    records = [[*SUBJECT_HEADER, "备注"], [*SUBJECT_RECORDS[0], "新登记"]]
    path = write_csv(tmp_path / "subjects.csv", records, "utf-8")

    parsed = read_registry_file(path)

    assert parsed.ignored_columns == ["备注"]
    assert len(parsed.rows) == 1


def test_unknown_header_message(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "list.csv", [["序号", "备注"], ["1", "x"]], "utf-8")

    with pytest.raises(ValidationError) as caught:
        read_registry_file(path)

    message = str(caught.value)
    assert message.startswith(f'registry file "{path}" has an unrecognised header (序号, 备注)')
    assert "divisions (code/区划代码, name/区划名称, level/级别" in message
    assert "inspectors (code/工号, name/姓名" in message
    assert "subjects (credit_code/统一社会信用代码" in message


def test_incomplete_header_names_missing_columns(tmp_path: Path) -> None:
    records = [["主体名称", "行业", "地址"], ["x", "种植", "y"]]
    path = write_csv(tmp_path / "s.csv", records, "utf-8")

    with pytest.raises(ValidationError) as caught:
        read_registry_file(path)

    message = str(caught.value)
    assert "looks like a subjects file" in message
    assert "grid_code/网格编码" in message
    assert "credit_code/统一社会信用代码 or other_id/其他编号" in message


def test_duplicate_column_rejected(tmp_path: Path) -> None:
    records = [["code", "name", "区划名称", "level"], ["150600", "a", "b", "city"]]
    path = write_csv(tmp_path / "d.csv", records, "utf-8")

    with pytest.raises(ValidationError, match='two columns for name: "name" and "区划名称"'):
        read_registry_file(path)


def test_header_of_two_kinds_rejected(tmp_path: Path) -> None:
    records = [
        ["code", "name", "level", "role", "division_code"],
        ["150600", "a", "city", "x", "1"],
    ]
    path = write_csv(tmp_path / "mixed.csv", records, "utf-8")

    with pytest.raises(ValidationError, match="fits divisions and inspectors at once"):
        read_registry_file(path)


def test_empty_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    with pytest.raises(ValidationError, match="has no header on line 1"):
        read_registry_file(path)


def test_old_excel_format_rejected(tmp_path: Path) -> None:
    path = tmp_path / "subjects.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")

    with pytest.raises(ValidationError, match=re.escape("save it as .xlsx or CSV")):
        read_registry_file(path)


def test_corrupt_xlsx_rejected(tmp_path: Path) -> None:
    path = tmp_path / "subjects.xlsx"
    path.write_bytes(b"not a zip file")

    with pytest.raises(ValidationError, match=re.escape("is not a readable .xlsx workbook")):
        read_registry_file(path)
