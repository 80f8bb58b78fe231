import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point, shape

from griddispatch.data import data_path
from griddispatch.errors import ValidationError
from storage.registry.example import generate_registry, main
from storage.registry.files import ParsedFile, read_registry_file
from storage.registry.rows import DivisionRow, InspectorRow, SubjectRow, load_industries

REGISTRY_DIR = data_path("registry", "ordos")
FILE_NAMES = ("divisions.csv", "inspectors.csv", "subjects.csv")


def parse(name: str) -> ParsedFile:
    return read_registry_file(REGISTRY_DIR / name)


@pytest.fixture(scope="module")
def divisions() -> list[DivisionRow]:
    return [row for _, row in parse("divisions.csv").rows if isinstance(row, DivisionRow)]


@pytest.fixture(scope="module")
def inspectors() -> list[InspectorRow]:
    return [row for _, row in parse("inspectors.csv").rows if isinstance(row, InspectorRow)]


@pytest.fixture(scope="module")
def subjects() -> list[SubjectRow]:
    return [row for _, row in parse("subjects.csv").rows if isinstance(row, SubjectRow)]


@pytest.fixture(scope="module")
def grid_polygons(divisions: list[DivisionRow]) -> dict[str, shapely.Geometry]:
    return {
        row.code: shape(json.loads(row.boundary_geojson or "null"))
        for row in divisions
        if row.level == "grid"
    }


def test_data_path_inside_package() -> None:
    path = data_path("ordos", "divisions.csv")

    assert path.is_file()
    assert path.parent.parent == data_path()


def test_data_path_rejects_escape() -> None:
    with pytest.raises(ValidationError, match="leads outside"):
        data_path("..", "errors.py")


@pytest.mark.parametrize("name", FILE_NAMES)
def test_example_files_parse_cleanly(name: str) -> None:
    parsed = parse(name)

    assert parsed.errors == []
    assert parsed.ignored_columns == []
    assert parsed.kind == name.removesuffix(".csv")


def test_example_totals(inspectors: list[InspectorRow], subjects: list[SubjectRow]) -> None:
    assert len(subjects) == 1863
    assert len(inspectors) == 779


def test_example_keeps_real_divisions(divisions: list[DivisionRow]) -> None:
    reference = read_registry_file(data_path("ordos", "divisions.csv"))
    real = [row for _, row in reference.rows]

    assert divisions[: len(real)] == real
    assert Counter(row.level for row in divisions[: len(real)]) == {
        "city": 1,
        "county": 9,
        "township": 88,
    }


def test_example_grids_per_township(divisions: list[DivisionRow]) -> None:
    townships = {row.code: row for row in divisions if row.level == "township"}
    grids = [row for row in divisions if row.level == "grid"]
    per_township = Counter(str(row.parent_code) for row in grids)

    assert set(per_township) == set(townships)
    assert set(per_township.values()) <= {2, 3, 4}
    for grid in grids:
        township = townships[str(grid.parent_code)]
        assert len(grid.code) == 12
        assert grid.code.startswith(township.code)
        assert grid.name == f"{township.name}第{int(grid.code[-3:])}网格"


def test_example_grids_inside_counties(
    divisions: list[DivisionRow], grid_polygons: dict[str, shapely.Geometry]
) -> None:
    collection = json.loads(data_path("ordos", "counties-wgs84.geojson").read_text("utf-8"))
    counties = {
        str(feature["properties"]["adcode"]): shape(feature["geometry"])
        for feature in collection["features"]
    }

    for grid in (row for row in divisions if row.level == "grid"):
        county_code = grid.code[:6]
        assert counties[county_code].contains(grid_polygons[grid.code]), grid.code


def test_example_grids_do_not_overlap(grid_polygons: dict[str, shapely.Geometry]) -> None:
    codes = list(grid_polygons)
    polygons = [grid_polygons[code] for code in codes]
    tree = shapely.STRtree(polygons)

    overlapping = []
    for index, polygon in enumerate(polygons):
        for other in tree.query(polygon):
            # The DE-9IM pattern T******** matches when the interiors share a point.
            if other != index and polygon.relate_pattern(polygons[other], "T********"):
                overlapping.append((codes[index], codes[int(other)]))

    assert len(polygons) > 176
    assert overlapping == []


def test_example_grid_staffing(
    divisions: list[DivisionRow], inspectors: list[InspectorRow]
) -> None:
    roles_by_grid: dict[str, Counter[str]] = defaultdict(Counter)
    for person in inspectors:
        roles_by_grid[person.division_code][person.role] += 1

    for grid in (row for row in divisions if row.level == "grid"):
        assert roles_by_grid[grid.code]["grid_leader"] == 1, grid.code
        assert roles_by_grid[grid.code]["inspector"] >= 2, grid.code


def test_example_staff_above_grids(
    divisions: list[DivisionRow], inspectors: list[InspectorRow]
) -> None:
    levels = {row.code: row.level for row in divisions}
    expected_level = {
        "command_centre": "city",
        "county": "county",
        "township": "township",
        "grid_leader": "grid",
        "inspector": "grid",
    }
    roles = Counter(person.role for person in inspectors)

    for person in inspectors:
        assert levels[person.division_code] == expected_level[person.role], person.code
    assert roles["command_centre"] >= 1
    assert roles["county"] >= 9
    assert roles["township"] >= 88


def test_example_staff_ids_and_phones_unique(inspectors: list[InspectorRow]) -> None:
    phones = [person.phone for person in inspectors]

    assert len({person.code for person in inspectors}) == len(inspectors)
    assert None not in phones
    assert len(set(phones)) == len(phones)


def test_example_subjects_inside_their_grid(
    subjects: list[SubjectRow], grid_polygons: dict[str, shapely.Geometry]
) -> None:
    for subject in subjects:
        assert subject.longitude is not None
        assert subject.latitude is not None
        point = Point(subject.longitude, subject.latitude)
        assert grid_polygons[subject.grid_code].contains(point), subject.name


def test_example_subjects_bound_to_grid_inspector(
    subjects: list[SubjectRow], inspectors: list[InspectorRow]
) -> None:
    by_code = {person.code: person for person in inspectors}

    for subject in subjects:
        inspector = by_code[str(subject.inspector_code)]
        assert inspector.division_code == subject.grid_code, subject.name
        assert inspector.role == "inspector"


def test_example_subject_industries(subjects: list[SubjectRow]) -> None:
    counts = Counter(subject.industry for subject in subjects)

    assert set(counts) == set(load_industries())
    assert counts.most_common(2)[0][0] == "planting"
    assert counts.most_common(2)[1][0] == "livestock"


def test_example_credit_code_share(subjects: list[SubjectRow]) -> None:
    with_code = [subject for subject in subjects if subject.credit_code is not None]
    smallholders = [subject for subject in subjects if subject.credit_code is None]

    assert 0.65 <= len(with_code) / len(subjects) <= 0.75
    assert all(subject.other_id for subject in smallholders)
    assert all("某某（" in subject.name for subject in smallholders)
    assert len({subject.credit_code for subject in with_code}) == len(with_code)


def test_example_subject_addresses(subjects: list[SubjectRow]) -> None:
    for subject in subjects:
        assert subject.coordinate_system == "wgs84"
        assert str(subject.address).startswith("内蒙古自治区鄂尔多斯市"), subject.name


def test_generator_is_deterministic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    # main() would replace the root logging handlers, which pytest also uses.
    monkeypatch.setattr("storage.registry.example.configure_logging", lambda level: None)

    generate_registry(first)
    main(["--output-dir", str(second)])

    assert "roles: command_centre=" in capsys.readouterr().out

    for name in FILE_NAMES:
        content = (first / name).read_bytes()
        assert content == (second / name).read_bytes(), name
        assert content == (REGISTRY_DIR / name).read_bytes(), f"{name} is out of date"


def test_generator_counts_match_files(tmp_path: Path) -> None:
    counts = generate_registry(tmp_path)

    assert sum(counts["roles"].values()) == 779
    assert sum(counts["industries"].values()) == 1863
    assert counts["levels"]["township"] == 88
