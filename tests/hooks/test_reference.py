"""Name matching, address ranking and the residue limit tables, without the loop."""

from datetime import date

import pytest

from dispatcher.setup import load_example_registry
from griddispatch.errors import ValidationError
from storage.db import Database
from storage.labs.limits import LimitTables, to_mg_per_kg
from storage.leads.places import division_in_address
from storage.registry.names import normalize_name

TABLES = LimitTables.load()
BEFORE_2026_BANS = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("registered", "sent"),
    [
        ("东胜区益农农业科技有限公司", "东胜区益农农业科技有限责任公司"),
        ("东胜区益农农业科技有限公司", "东胜区益农\u3000农业科技 有限公司"),
        ("张某某（种植户）", "张某某(种植户)"),
        ("ABC牧业有限公司", "ａｂｃ牧业有限公司"),
    ],
)
def test_name_variants_match(registered: str, sent: str) -> None:
    assert normalize_name(sent) == normalize_name(registered)


def test_different_names_differ() -> None:
    assert normalize_name("东胜区益农农业科技有限公司") != normalize_name("东胜区益农牧业有限公司")


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("mg/kg", 0.45), ("ppm", 0.45), ("µg/kg", 0.00045), ("μg/kg", 0.00045), ("UG/KG", 0.00045)],
)
def test_units_converted(unit: str, expected: float) -> None:
    assert to_mg_per_kg(0.45, unit) == pytest.approx(expected)


def test_unknown_unit_rejected() -> None:
    with pytest.raises(ValidationError, match="'mg/L' is not supported"):
        to_mg_per_kg(1.0, "mg/L")


def test_limit_under_general_name() -> None:
    # Aldicarb has no chive row, so the vegetable category's limit applies.
    limit = TABLES.limit_for("韭菜", "aldicarb")

    assert limit is not None
    assert limit.mrl_mg_per_kg == 0.03
    assert limit.commodity_zh == "蔬菜"
    assert limit.row_source == "pesticide-mrl.csv line 24"


def test_limit_of_summed_analyte() -> None:
    limit = TABLES.limit_for("禽肌肉", "金霉素")

    assert limit is not None
    assert limit.mrl_mg_per_kg == 0.2
    assert limit.standard_year == 2019


def test_ban_limited_to_vegetables() -> None:
    assert TABLES.ban_for("韭菜", "毒死蜱", BEFORE_2026_BANS) is not None
    assert TABLES.ban_for("葡萄", "毒死蜱", BEFORE_2026_BANS) is None


def test_ban_from_its_date() -> None:
    assert TABLES.ban_for("豇豆", "氧乐果", BEFORE_2026_BANS) is None
    ban = TABLES.ban_for("豇豆", "氧乐果", date(2026, 6, 1))
    assert ban is not None
    assert ban.notice == "MARA notice 736"


@pytest.mark.parametrize(
    ("address", "code", "problem"),
    [
        ("内蒙古自治区鄂尔多斯市鄂托克旗乌兰镇某村", "150624100", ""),
        ("鄂尔多斯市东胜区交通街道育才路124号", "150602001", ""),
        # A street named after a township of another county picks the county named.
        ("鄂尔多斯市东胜区乌兰镇路8号", "150602", ""),
        ("北京市朝阳区", None, "names no division"),
    ],
)
async def test_division_in_address(
    db: Database, address: str, code: str | None, problem: str
) -> None:
    await load_example_registry(db)

    async with db.reading() as session:
        match = await division_in_address(session, db.url, address)

    assert (match.place.code if match.place else None) == code
    assert problem in match.problem
