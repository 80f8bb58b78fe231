"""Plan files: the shipped plan loads, and bad files name the file and the field."""

from pathlib import Path

import pytest
import yaml

from griddispatch.errors import ConfigurationError
from storage.plans.config import DEFAULT_PLAN_DIR, Cadence, load_plans
from storage.registry.rows import load_industries


def _write_plan(folder: Path, change: dict[str, object]) -> Path:
    data = yaml.safe_load((DEFAULT_PLAN_DIR / "2026.yaml").read_text(encoding="utf-8"))
    data.update(change)
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_plan_covers_every_industry() -> None:
    plan = load_plans().latest

    assert set(plan.spec.industries) == set(load_industries())
    assert plan.grade_codes == ["A", "B", "C"]
    assert plan.cadence("planting", "A") is Cadence.MONTH
    assert plan.cadence("planting", "C") is Cadence.HALF


def test_unknown_default_grade_names_field(tmp_path: Path) -> None:
    path = _write_plan(tmp_path, {"default_grade": "Z"})

    with pytest.raises(ConfigurationError) as caught:
        load_plans(tmp_path)

    assert str(path) in str(caught.value)
    assert "default_grade" in str(caught.value)


def test_bad_cadence_names_industry(tmp_path: Path) -> None:
    data = yaml.safe_load((DEFAULT_PLAN_DIR / "2026.yaml").read_text(encoding="utf-8"))
    data["industries"]["planting"]["cadence"]["A"] = "weekly"
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    with pytest.raises(ConfigurationError) as caught:
        load_plans(tmp_path)

    assert str(path) in str(caught.value)
    assert "industries.planting.cadence.A" in str(caught.value)


def test_missing_industry_is_named(tmp_path: Path) -> None:
    data = yaml.safe_load((DEFAULT_PLAN_DIR / "2026.yaml").read_text(encoding="utf-8"))
    del data["industries"]["trader"]
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")

    with pytest.raises(ConfigurationError, match=r"missing \['trader'\]"):
        load_plans(tmp_path)


def test_empty_folder_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"no \*\.yaml plan file"):
        load_plans(tmp_path)
