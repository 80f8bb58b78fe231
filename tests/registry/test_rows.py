from typing import Any

import pydantic
import pytest

from griddispatch.errors import ValidationError
from storage.registry.rows import (
    DivisionRow,
    InspectorRow,
    RowError,
    SubjectRow,
    describe_validation_error,
    load_industries,
    mask_phone,
)

GRID_BOUNDARY = (
    '{"type":"Polygon","coordinates":[[[109.9,39.8],[109.92,39.8],[109.92,39.815],'
    "[109.9,39.815],[109.9,39.8]]]}"
)


def subject(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "credit_code": "91350100M000100Y43",
        "name": "东胜区绿源种植专业合作社",
        "industry": "planting",
        "grid_code": "150602001001",
    }
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def reason_for(model: type[pydantic.BaseModel], values: dict[str, Any]) -> str:
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate(values)

    return str(describe_validation_error(caught.value))


def test_row_error_str() -> None:
    problem = ValidationError("{field} is missing", field="name")

    assert str(RowError("subjects.csv", 3, problem)) == "subjects.csv:3: name is missing"


def test_division_level_chinese_aliases() -> None:
    levels = {"城市": "city", "旗县区": "county", "乡镇": "township", "网格": "grid"}
    codes = {"city": "150600", "county": "150602", "township": "150602001", "grid": "150602001001"}
    parents = {"city": None, "county": "150600", "township": "150602", "grid": "150602001"}

    for alias, level in levels.items():
        row = DivisionRow(code=codes[level], name="x", level=alias, parent_code=parents[level])
        assert row.level == level


def test_division_code_length_checked() -> None:
    reason = reason_for(
        DivisionRow, {"code": "1506020", "name": "x", "level": "county", "parent_code": "150600"}
    )

    assert reason == 'division code "1506020" is invalid: a county code has 6 digits, not 7'


def test_division_parent_required_below_city() -> None:
    reason = reason_for(DivisionRow, {"code": "150602", "name": "东胜区", "level": "county"})

    assert reason == 'parent_code is missing for county "150602"'


def test_township_code_must_extend_county() -> None:
    reason = reason_for(
        DivisionRow,
        {"code": "150603001", "name": "x", "level": "township", "parent_code": "150602"},
    )

    assert 'township code "150603001" is invalid' in reason
    assert '"150602"' in reason


def test_grid_boundary_accepted() -> None:
    row = DivisionRow(
        code="150602001001",
        name="交通街道第1网格",
        level="grid",
        parent_code="150602001",
        boundary_geojson=GRID_BOUNDARY,
    )

    assert row.boundary_geojson == GRID_BOUNDARY


@pytest.mark.parametrize(
    ("boundary", "problem"),
    [
        ("{not json", "it is not JSON"),
        ('{"type":"Point","coordinates":[109.9,39.8]}', "expected a GeoJSON Polygon"),
        ('{"type":"Polygon","coordinates":[[[9,39],[10,39],[10,40],[9,39]]]}', "outside China"),
        (
            '{"type":"Polygon","coordinates":[[[109,39],[110,40],[110,39],[109,40],[109,39]]]}',
            "crosses itself",
        ),
        ('{"type":"Polygon"}', "do not form a GeoJSON Polygon"),
        ('{"type":"MultiPolygon","coordinates":5}', "do not form a GeoJSON MultiPolygon"),
        ('{"type":"Polygon","coordinates":[[[109.9,39.8],[110,40]]]}', "do not form a GeoJSON"),
    ],
)
def test_grid_boundary_rejected(boundary: str, problem: str) -> None:
    values = {
        "code": "150602001001",
        "name": "x",
        "level": "grid",
        "parent_code": "150602001",
        "boundary_geojson": boundary,
    }

    reason = reason_for(DivisionRow, values)

    assert reason.startswith("boundary_geojson")
    assert problem in reason


@pytest.mark.parametrize(
    "phone", ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "8613812345678"]
)
def test_phone_normalized(phone: str) -> None:
    row = InspectorRow(
        code="JG0001", name="张伟", phone=phone, role="inspector", division_code="150602001001"
    )

    assert row.phone == "13812345678"


@pytest.mark.parametrize("phone", ["1381234567", "12812345678", "0477-8123456"])
def test_phone_rejected_and_masked(phone: str) -> None:
    values = {
        "code": "JG0001",
        "name": "张伟",
        "phone": phone,
        "role": "inspector",
        "division_code": "150602001001",
    }

    reason = reason_for(InspectorRow, values)

    assert reason.startswith('phone "')
    assert "is invalid: expected an 11-digit mainland mobile number" in reason
    assert phone.replace("-", "") not in reason


def test_mask_phone_keeps_ends() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("12345") == "*****"


def test_role_chinese_aliases() -> None:
    cases = {
        "监管员": ("inspector", "150602001001"),
        "网格长": ("grid_leader", "150602001001"),
        "乡镇": ("township", "150602001"),
        "旗县": ("county", "150602"),
        "指挥中心": ("command_centre", "150600"),
    }

    for alias, (role, division_code) in cases.items():
        row = InspectorRow(
            code="JG1",
            name="张伟",
            role=alias,
            division_code=division_code,
        )
        assert row.role == role


def test_role_unknown_lists_accepted_values() -> None:
    values = {"code": "JG1", "name": "张伟", "role": "boss", "division_code": "150600"}

    reason = reason_for(InspectorRow, values)

    assert reason.startswith('role "boss" is invalid: expected one of inspector (监管员')
    assert "command_centre" in reason


def test_inspector_needs_grid_code() -> None:
    values = {"code": "JG1", "name": "张伟", "role": "inspector", "division_code": "150602001"}

    reason = reason_for(InspectorRow, values)

    assert "a grid code has at least 12 digits, not 9" in reason
    assert "because role inspector belongs to a grid" in reason


def test_subject_industry_by_chinese_name() -> None:
    assert SubjectRow.model_validate(subject(industry="畜禽养殖")).industry == "livestock"


def test_subject_industry_by_english_name() -> None:
    assert SubjectRow.model_validate(subject(industry="Raw Milk Collection")).industry == "raw_milk"


def test_subject_unknown_industry() -> None:
    reason = reason_for(SubjectRow, subject(industry="渔业"))

    assert reason.startswith('industry "渔业" is invalid: expected one of pesticide_store')
    assert "planting (种植)" in reason


def test_industries_loaded_from_package() -> None:
    industries = load_industries()

    assert len(industries) == 10
    assert industries["planting"].name_zh == "种植"
    assert industries["slaughter"].checklist == "livestock"


def test_subject_needs_credit_code_or_other_id() -> None:
    reason = reason_for(SubjectRow, subject(credit_code=None))

    assert reason.startswith("credit_code and other_id are both missing")


def test_smallholder_with_other_id() -> None:
    row = SubjectRow.model_validate(subject(credit_code=None, other_id="NH15062100001"))

    assert row.credit_code is None
    assert row.other_id == "NH15062100001"


def test_subject_credit_code_normalized() -> None:
    row = SubjectRow.model_validate(subject(credit_code="91350100m000100y43"))

    assert row.credit_code == "91350100M000100Y43"


def test_subject_invalid_credit_code() -> None:
    reason = reason_for(SubjectRow, subject(credit_code="91350100M000100Y44"))

    assert reason.startswith('credit code "91350100M000100Y44" is invalid')


def test_subject_location_and_default_system() -> None:
    row = SubjectRow.model_validate(subject(longitude="109.9", latitude=" 39.8 "))

    assert row.longitude == 109.9
    assert row.latitude == 39.8
    assert row.coordinate_system == "wgs84"


@pytest.mark.parametrize(
    ("alias", "system"),
    [("GCJ-02", "gcj02"), ("高德", "gcj02"), ("BD-09", "bd09"), ("WGS 84", "wgs84")],
)
def test_subject_coordinate_system_aliases(alias: str, system: str) -> None:
    row = SubjectRow.model_validate(subject(coordinate_system=alias))

    assert row.coordinate_system == system


def test_subject_swapped_coordinates_rejected() -> None:
    reason = reason_for(SubjectRow, subject(longitude=39.8, latitude=109.9))

    assert reason.startswith("location 39.8, 109.9 is invalid: it lies outside China")


def test_subject_half_location_rejected() -> None:
    reason = reason_for(SubjectRow, subject(longitude=109.9))

    assert reason == "longitude and latitude must be given together, but one is missing"


@pytest.mark.parametrize("value", ["abc", "nan", "109°"])
def test_subject_bad_longitude(value: str) -> None:
    reason = reason_for(SubjectRow, subject(longitude=value, latitude=39.8))

    assert reason.startswith(f'longitude "{value}" is invalid')


def test_subject_short_grid_code() -> None:
    reason = reason_for(SubjectRow, subject(grid_code="150602001"))

    assert reason == 'grid_code "150602001" is invalid: a grid code has at least 12 digits, not 9'


def test_subject_overlong_grid_code() -> None:
    reason = reason_for(SubjectRow, subject(grid_code="1" * 65))

    assert reason.endswith("a grid code has at most 64 digits, not 65")


def test_several_problems_in_one_reason() -> None:
    reason = reason_for(SubjectRow, subject(industry="渔业", grid_code="1506"))

    assert 'industry "渔业" is invalid' in reason
    assert 'grid_code "1506" is invalid' in reason


def test_missing_name_reported() -> None:
    values = subject()
    del values["name"]

    assert reason_for(SubjectRow, values) == "name is missing"


def chinese_reason_for(model: type[pydantic.BaseModel], values: dict[str, Any]) -> str:
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate(values)

    return describe_validation_error(caught.value).localized("zh_CN")


def test_code_length_reason_in_chinese() -> None:
    reason = chinese_reason_for(
        DivisionRow, {"code": "1506020", "name": "x", "level": "county", "parent_code": "150600"}
    )

    assert reason == "区划代码“1506020”无效：旗县区代码应为 6 位，实为 7 位"


def test_role_reason_in_chinese_wraps_inner() -> None:
    values = {"code": "JG0001", "name": "张伟", "role": "网格长", "division_code": "150602001"}

    reason = chinese_reason_for(InspectorRow, values)

    assert reason == (
        "division_code“150602001”无效：网格代码至少应为 12 位，实为 9 位，"
        "因为角色为网格长，所属区划应为网格"
    )


def test_several_problems_in_chinese() -> None:
    reason = chinese_reason_for(SubjectRow, subject(industry="渔业", grid_code="1506"))

    assert reason.startswith("industry“渔业”无效：应为以下之一：")
    assert "；grid_code“1506”无效：网格代码至少应为 12 位，实为 4 位" in reason


def test_credit_code_reason_in_chinese() -> None:
    reason = chinese_reason_for(SubjectRow, subject(credit_code="91350100M000100Y44"))

    assert (
        reason == "统一社会信用代码“91350100M000100Y44”无效：校验码应为 3；请对照营业执照核对代码"
    )


def test_missing_name_in_chinese() -> None:
    values = subject()
    del values["name"]

    assert chinese_reason_for(SubjectRow, values) == "缺少 name"


def test_overlong_staff_id_reported() -> None:
    values = {"code": "J" * 65, "name": "张伟", "role": "监管员", "division_code": "150602001001"}

    assert reason_for(InspectorRow, values) == (
        f'code "{"J" * 65}" is invalid: String should have at most 64 characters'
    )
    assert chinese_reason_for(InspectorRow, values) == f"code“{'J' * 65}”无效：最多 64 个字符"
