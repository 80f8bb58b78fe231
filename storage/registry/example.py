"""Generator of the invented example registry for Ordos (鄂尔多斯市).

The real city, counties and townships come from the package's divisions file. Grids,
inspectors and subjects are invented: each township gets 2-4 grids, drawn as adjacent
squares of a lattice at a random spot inside its county's WGS-84 boundary, so grids
never overlap. Everything is drawn from `random.Random(SEED)`, so the output is the
same byte for byte on every run.

Run `python -m storage.registry.example` to rewrite the files in
`griddispatch/data/registry/ordos/`.
"""

import argparse
import csv
import json
import logging
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import Polygon, box, shape

from griddispatch.data import data_path
from griddispatch.errors import GridDispatchError
from griddispatch.i18n import mark
from griddispatch.logs import configure_logging
from storage.registry.credit_code import ALPHABET, check_character
from storage.registry.files import read_registry_file
from storage.registry.rows import DivisionRow, InspectorRow, SubjectRow, load_industries

logger = logging.getLogger(__name__)


def _split_words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SEED = 20180601
CITY_CODE = "150600"
CITY_NAME = "鄂尔多斯市"
ADDRESS_PREFIX = "内蒙古自治区鄂尔多斯市"
INSPECTOR_TOTAL = 779
SUBJECT_TOTAL = 1863

# Ordos had 1,863 registered subjects in 10 industries in 2018. The split over the
# industries is invented, with planting and livestock farming the largest.
INDUSTRY_COUNTS = {
    "planting": 620,
    "livestock": 560,
    "pesticide_store": 170,
    "trader": 150,
    "vet_drug_store": 110,
    "feed_store": 80,
    "seed_store": 60,
    "aquaculture": 45,
    "raw_milk": 40,
    "slaughter": 28,
}

COMMAND_CENTRE_STAFF = 4
COUNTY_STAFF = 3
TOWNSHIP_STAFF = 1
MIN_GRID_INSPECTORS = 2

# Lattice cell size in degrees, about 1.7 km by 1.7 km at the latitude of Ordos.
CELL_WIDTH = 0.02
CELL_HEIGHT = 0.015
MAX_PLACEMENT_ATTEMPTS = 20_000
# Cell offsets of the block of grids of one township, by number of grids.
BLOCK_SHAPES = {
    2: [(0, 0), (1, 0)],
    3: [(0, 0), (1, 0), (0, 1)],
    4: [(0, 0), (1, 0), (0, 1), (1, 1)],
}

# Share of subjects in these industries that are smallholders without a credit code.
SMALLHOLDER_SHARE = {"planting": 0.45, "livestock": 0.45, "trader": 0.2}
SMALLHOLDER_LABELS = {"planting": "种植户", "livestock": "养殖户", "trader": "贩运户"}
PRODUCTION_INDUSTRIES = ("planting", "livestock", "aquaculture", "raw_milk")
STORE_INDUSTRIES = ("pesticide_store", "vet_drug_store", "feed_store", "seed_store")

# Name templates per industry with the GB 32100 organisation type of the second code
# character: 1 enterprise, 2 individual business, 3 farmers' cooperative.
# {county} is the county name and {word} an invented trade name.
NAME_TEMPLATES: dict[str, list[tuple[str, str]]] = {
    "planting": [
        ("{county}{word}种植专业合作社", "3"),
        ("{county}{word}农业科技有限公司", "1"),
        ("{county}{word}家庭农场", "2"),
    ],
    "livestock": [
        ("{county}{word}养殖专业合作社", "3"),
        ("{county}{word}牧业有限公司", "1"),
        ("{county}{word}家庭牧场", "2"),
    ],
    "aquaculture": [
        ("{county}{word}水产养殖专业合作社", "3"),
        ("{county}{word}渔业有限公司", "1"),
    ],
    "raw_milk": [("{county}{word}生鲜乳收购站", "1")],
    "slaughter": [
        ("{county}{word}肉业有限公司", "1"),
        ("{county}{word}清真肉食品有限公司", "1"),
    ],
    "trader": [
        ("{county}{word}农产品购销有限公司", "1"),
        ("{county}{word}果蔬批发部", "2"),
    ],
    "pesticide_store": [
        ("{county}{word}农资经营部", "2"),
        ("{county}{word}农资有限公司", "1"),
    ],
    "vet_drug_store": [("{county}{word}兽药经营部", "2")],
    "feed_store": [("{county}{word}饲料经营部", "2")],
    "seed_store": [
        ("{county}{word}种业经营部", "2"),
        ("{county}{word}种业有限公司", "1"),
    ],
}

TRADE_WORDS = _split_words(
    "绿源 丰禾 金穗 沃野 草原 祥和 兴农 富民 瑞丰 绿野 康源 禾润 惠农 田园 丰泽 鑫源 "
    "盛田 金土地 蒙源 牧歌 天骄 北疆 银河 益农 嘉禾 华丰 丰收 兴旺 宏远 聚丰 福源 长青 "
    "绿洲 沙海 黄河湾 阳光 禾丰 金秋 大漠 苍穹 万家 旭日 春晖 源丰 众诚 德丰 泰和 鸿达 "
    "兴隆 三合 四季 红柳 胡杨 沙柳 紫荆 青山 白云 锦绣 诚信 安康 瑞祥 永丰 顺达 恒源 "
    "美丰 新农 乡情 牧野 云海 朝阳 金鹿 神骏 骏马 苏力德 乌兰 宝日 额尔敦 查干"
)
SURNAMES = _split_words(
    "王 李 张 刘 陈 杨 赵 黄 周 吴 徐 孙 胡 朱 高 林 何 郭 马 罗 梁 宋 郑 谢 韩 唐 冯 于 "
    "董 萧 程 曹 袁 邓 许 傅 沈 曾 彭 吕 苏 卢 蒋 蔡 贾 丁 魏 薛 叶 阎 余 潘 杜 戴 夏 钟 "
    "汪 田 任 姜 范 方 石 姚 谭 廖 邹 熊 金 陆 郝 孔 白 崔 康 毛 邱 秦 江 史 顾 侯 邵 孟 "
    "龙 万 段 雷 钱 汤 尹 黎 易 常 武 乔 贺 赖 龚 文 奇 包 云 鲍"
)
GIVEN_NAME_CHARACTERS = _split_words(
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀 霞 平 刚 桂 英 华 玉 兰 红 "
    "飞 鹏 辉 斌 宇 浩 凯 健 俊 帆 帅 旭 宁 龙 林 欣 晨 瑞 博 佳 雪 琳 晶 颖 莉 婷 慧 "
    "峰 海 波 亮 成 志 忠 东 春 燕 荣 喜 福 山 泉 正 文 武 国 建 新 永 德 利 昌"
)
# Mongolian personal names are used without a surname.
MONGOLIAN_NAMES = _split_words(
    "巴特尔 乌日娜 其其格 斯琴 额尔敦 哈斯 娜仁 苏日娜 布和 朝鲁 阿拉坦 孟和 宝音 那日苏 "
    "乌云 萨仁 图雅 格日勒 敖敦 其木格 巴雅尔 吉日嘎拉 特木尔 额尔德木图 白音 达来 "
    "阿古拉 乌兰 包力高 呼和 赛罕 塔娜 高娃 查干 满都拉"
)
MONGOLIAN_NAME_SHARE = 0.2
VILLAGE_WORDS = _split_words(
    "巴音 乌兰 哈达 查干 阿尔 新民 红旗 胜利 前进 和平 永胜 五星 东升 西营 南湾 北梁 "
    "柳沟 沙坝 海子 圪台 庙 梁 塔拉 敖包 布拉格 呼和 宝日 达拉 伊克 门克"
)
ROAD_WORDS = _split_words(
    "鄂尔多斯 伊金霍洛 天骄 达拉特 准格尔 团结 民族 建设 林荫 宝日陶亥 乌审 可汗 "
    "铁西 育才 兴业 振兴 工业 纺织 巴音门克 吉劳庆"
)

DIVISION_COLUMNS = ("code", "name", "level", "parent_code", "boundary_geojson")
INSPECTOR_COLUMNS = ("code", "name", "phone", "role", "division_code")
SUBJECT_COLUMNS = (
    "credit_code",
    "other_id",
    "name",
    "industry",
    "grid_code",
    "inspector_code",
    "longitude",
    "latitude",
    "coordinate_system",
    "address",
)

Cell = tuple[int, int]


class ExampleGenerationError(GridDispatchError):
    """Raised when the example registry cannot be generated from the reference data."""


@dataclass
class Grid:
    """A generated grid with the divisions above it and its inspectors."""

    row: DivisionRow
    township: DivisionRow
    county: DivisionRow
    polygon: Polygon
    # True for 街道 and development zones, whose subjects are mostly shops.
    urban: bool
    leader: InspectorRow | None = None
    inspectors: list[InspectorRow] = field(default_factory=list)


@dataclass
class _Generator:
    rng: random.Random
    used_phones: set[str] = field(default_factory=set)
    used_names: set[str] = field(default_factory=set)
    used_credit_codes: set[str] = field(default_factory=set)
    other_id_counters: Counter[str] = field(default_factory=Counter)
    staff_count: int = 0


def generate_registry(output_dir: Path, seed: int = SEED) -> dict[str, Counter[str]]:
    """Write divisions.csv, inspectors.csv and subjects.csv into `output_dir`.

    Returns the counts per division level, inspector role and subject industry.
    Raises ExampleGenerationError when the reference data cannot hold the registry.
    """
    _check_industry_counts()
    generator = _Generator(rng=random.Random(seed))
    divisions = _load_divisions()
    boundaries = _load_county_boundaries()

    grids = _make_grids(generator, divisions, boundaries)
    inspectors = _make_inspectors(generator, divisions, grids)
    subjects = _make_subjects(generator, grids)

    output_dir.mkdir(parents=True, exist_ok=True)
    division_rows = [*divisions, *(grid.row for grid in grids)]
    _write_csv(output_dir / "divisions.csv", DIVISION_COLUMNS, division_rows)
    _write_csv(output_dir / "inspectors.csv", INSPECTOR_COLUMNS, inspectors)
    _write_csv(output_dir / "subjects.csv", SUBJECT_COLUMNS, subjects)

    return {
        "levels": Counter(row.level for row in division_rows),
        "roles": Counter(row.role for row in inspectors),
        "industries": Counter(row.industry for row in subjects),
    }


def _check_industry_counts() -> None:
    known = sorted(load_industries())

    if sorted(INDUSTRY_COUNTS) != known:
        raise ExampleGenerationError(
            mark("INDUSTRY_COUNTS covers {counted}, but industries.csv lists {known}"),
            counted=sorted(INDUSTRY_COUNTS),
            known=known,
        )

    if sum(INDUSTRY_COUNTS.values()) != SUBJECT_TOTAL:
        raise ExampleGenerationError(
            mark("INDUSTRY_COUNTS adds up to {total}, not {expected}"),
            total=sum(INDUSTRY_COUNTS.values()),
            expected=SUBJECT_TOTAL,
        )


def _load_divisions() -> list[DivisionRow]:
    parsed = read_registry_file(data_path("ordos", "divisions.csv"))

    if parsed.errors:
        problems = "; ".join(str(error) for error in parsed.errors)
        raise ExampleGenerationError(
            mark("the package divisions file is invalid: {problems}"), problems=problems
        )

    return [row for _, row in parsed.rows if isinstance(row, DivisionRow)]


def _load_county_boundaries() -> dict[str, Any]:
    path = data_path("ordos", "counties-wgs84.geojson")
    collection = json.loads(path.read_text(encoding="utf-8"))
    boundaries: dict[str, Any] = {}

    for feature in collection["features"]:
        polygon = shape(feature["geometry"])
        shapely.prepare(polygon)
        boundaries[str(feature["properties"]["adcode"])] = polygon

    return boundaries


def _make_grids(
    generator: _Generator, divisions: list[DivisionRow], boundaries: dict[str, Any]
) -> list[Grid]:
    counties = {row.code: row for row in divisions if row.level == "county"}
    # Cells taken by a grid or kept free around one, shared by all counties because
    # neighbouring county boundaries overlap slightly.
    occupied: set[Cell] = set()
    grids: list[Grid] = []

    for township in (row for row in divisions if row.level == "township"):
        county = counties[str(township.parent_code)]
        urban = _is_urban(township)
        count = 2 if urban else generator.rng.choices((2, 3, 4), weights=(5, 4, 1))[0]
        cells = _place_block(generator.rng, boundaries[county.code], count, occupied, township)

        for number, cell in enumerate(cells, start=1):
            grids.append(_make_grid(township, county, number, cell, urban))

    return grids


def _is_urban(township: DivisionRow) -> bool:
    # Development zones have township codes 400-499 in the statistical code scheme.
    return township.name.endswith("街道") or township.code[6] == "4"


def _place_block(
    rng: random.Random, boundary: Any, count: int, occupied: set[Cell], township: DivisionRow
) -> list[Cell]:
    min_lon, min_lat, max_lon, max_lat = boundary.bounds
    columns = range(math.floor(min_lon / CELL_WIDTH), math.ceil(max_lon / CELL_WIDTH))
    rows = range(math.floor(min_lat / CELL_HEIGHT), math.ceil(max_lat / CELL_HEIGHT))

    for _ in range(MAX_PLACEMENT_ATTEMPTS):
        origin = (rng.choice(columns), rng.choice(rows))
        cells = [(origin[0] + dx, origin[1] + dy) for dx, dy in BLOCK_SHAPES[count]]

        if _block_fits(cells, boundary, occupied):
            occupied.update(_with_neighbours(cells))
            return cells

    raise ExampleGenerationError(
        mark(
            "no free place for {count} grids of township code={code} inside its county "
            "after {attempts} attempts; use smaller cells or fewer grids"
        ),
        count=count,
        code=township.code,
        attempts=MAX_PLACEMENT_ATTEMPTS,
    )


def _block_fits(cells: list[Cell], boundary: Any, occupied: set[Cell]) -> bool:
    if any(cell in occupied for cell in cells):
        return False

    return all(boundary.contains(_cell_polygon(cell)) for cell in cells)


def _with_neighbours(cells: list[Cell]) -> list[Cell]:
    # Keeping a ring of free cells around each block keeps townships apart on a map.
    offsets = (-1, 0, 1)
    return [(x + dx, y + dy) for x, y in cells for dx in offsets for dy in offsets]


def _cell_polygon(cell: Cell) -> Polygon:
    # Rounding makes neighbouring cells share exactly the same edge coordinates.
    west = round(cell[0] * CELL_WIDTH, 6)
    south = round(cell[1] * CELL_HEIGHT, 6)
    east = round((cell[0] + 1) * CELL_WIDTH, 6)
    north = round((cell[1] + 1) * CELL_HEIGHT, 6)
    return box(west, south, east, north)


def _make_grid(
    township: DivisionRow, county: DivisionRow, number: int, cell: Cell, urban: bool
) -> Grid:
    polygon = _cell_polygon(cell)
    west, south, east, north = polygon.bounds
    # Counter-clockwise exterior ring, as RFC 7946 recommends.
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    geojson = json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))

    row = DivisionRow(
        code=f"{township.code}{number:03d}",
        name=f"{township.name}第{number}网格",
        level="grid",
        parent_code=township.code,
        boundary_geojson=geojson,
    )
    return Grid(row=row, township=township, county=county, polygon=polygon, urban=urban)


def _make_inspectors(
    generator: _Generator, divisions: list[DivisionRow], grids: list[Grid]
) -> list[InspectorRow]:
    grid_sizes = _grid_inspector_counts(generator.rng, divisions, grids)
    staff = [
        _make_person(generator, "command_centre", CITY_CODE) for _ in range(COMMAND_CENTRE_STAFF)
    ]

    for county in (row for row in divisions if row.level == "county"):
        staff += [_make_person(generator, "county", county.code) for _ in range(COUNTY_STAFF)]

        for township in (row for row in divisions if row.parent_code == county.code):
            staff += _make_township_staff(generator, township, grids, grid_sizes)

    return staff


def _grid_inspector_counts(
    rng: random.Random, divisions: list[DivisionRow], grids: list[Grid]
) -> list[int]:
    counties = sum(1 for row in divisions if row.level == "county")
    townships = sum(1 for row in divisions if row.level == "township")
    staff = COMMAND_CENTRE_STAFF + COUNTY_STAFF * counties + TOWNSHIP_STAFF * townships
    spare = INSPECTOR_TOTAL - staff - len(grids) * (1 + MIN_GRID_INSPECTORS)

    if spare < 0:
        raise ExampleGenerationError(
            mark("{grids} grids need more than {staff} staff; generate fewer grids"),
            grids=len(grids),
            staff=INSPECTOR_TOTAL,
        )

    sizes = [MIN_GRID_INSPECTORS] * len(grids)
    for _ in range(spare):
        sizes[rng.randrange(len(grids))] += 1

    return sizes


def _make_township_staff(
    generator: _Generator, township: DivisionRow, grids: list[Grid], grid_sizes: list[int]
) -> list[InspectorRow]:
    staff = [_make_person(generator, "township", township.code) for _ in range(TOWNSHIP_STAFF)]

    for grid, size in zip(grids, grid_sizes, strict=True):
        if grid.township.code != township.code:
            continue

        grid.leader = _make_person(generator, "grid_leader", grid.row.code)
        grid.inspectors = [_make_person(generator, "inspector", grid.row.code) for _ in range(size)]
        staff += [grid.leader, *grid.inspectors]

    return staff


def _make_person(generator: _Generator, role: str, division_code: str) -> InspectorRow:
    generator.staff_count += 1

    return InspectorRow.model_validate(
        {
            "code": f"JG{generator.staff_count:04d}",
            "name": _person_name(generator.rng),
            "phone": _unique_phone(generator),
            "role": role,
            "division_code": division_code,
        }
    )


def _person_name(rng: random.Random) -> str:
    if rng.random() < MONGOLIAN_NAME_SHARE:
        return rng.choice(MONGOLIAN_NAMES)

    given_length = rng.choice((1, 2, 2))
    given = "".join(rng.choice(GIVEN_NAME_CHARACTERS) for _ in range(given_length))
    return rng.choice(SURNAMES) + given


def _unique_phone(generator: _Generator) -> str:
    while True:
        phone = f"1{generator.rng.choice('3456789')}{generator.rng.randrange(10**9):09d}"

        if phone not in generator.used_phones:
            generator.used_phones.add(phone)
            return phone


def _make_subjects(generator: _Generator, grids: list[Grid]) -> list[SubjectRow]:
    subjects: list[tuple[int, SubjectRow]] = []

    for industry, count in INDUSTRY_COUNTS.items():
        weights = [_grid_weight(grid, industry) for grid in grids]

        for _ in range(count):
            index = generator.rng.choices(range(len(grids)), weights=weights)[0]
            subjects.append((index, _make_subject(generator, grids[index], industry)))

    # Sorting by grid keeps each grid's subjects together, in generation order.
    subjects.sort(key=lambda item: item[0])
    return [subject for _, subject in subjects]


def _grid_weight(grid: Grid, industry: str) -> int:
    if industry in PRODUCTION_INDUSTRIES:
        return 1 if grid.urban else 4

    if industry in STORE_INDUSTRIES:
        return 3 if grid.urban else 2

    return 1


def _make_subject(generator: _Generator, grid: Grid, industry: str) -> SubjectRow:
    rng = generator.rng
    smallholder = rng.random() < SMALLHOLDER_SHARE.get(industry, 0.0)

    if smallholder:
        identity = _smallholder_identity(generator, grid, industry)
    else:
        identity = _business_identity(generator, grid, industry)

    longitude, latitude = _point_in(rng, grid.polygon)
    values = {
        **identity,
        "industry": industry,
        "grid_code": grid.row.code,
        "inspector_code": rng.choice(grid.inspectors).code,
        "longitude": longitude,
        "latitude": latitude,
        "coordinate_system": "wgs84",
        "address": _address(rng, grid, smallholder or industry in PRODUCTION_INDUSTRIES),
    }
    return SubjectRow.model_validate(values)


def _smallholder_identity(generator: _Generator, grid: Grid, industry: str) -> dict[str, str]:
    county_code = grid.county.code
    generator.other_id_counters[county_code] += 1
    number = generator.other_id_counters[county_code]

    return {
        "other_id": f"NH{county_code}{number:05d}",
        "name": f"{generator.rng.choice(SURNAMES)}某某（{SMALLHOLDER_LABELS[industry]}）",
    }


def _business_identity(generator: _Generator, grid: Grid, industry: str) -> dict[str, str]:
    template, organisation_type = generator.rng.choice(NAME_TEMPLATES[industry])
    name = _unique_business_name(generator, template, grid)
    return {"credit_code": _credit_code(generator, organisation_type, grid), "name": name}


def _unique_business_name(generator: _Generator, template: str, grid: Grid) -> str:
    for _ in range(100):
        word = generator.rng.choice(TRADE_WORDS)
        name = template.format(county=grid.county.name, word=word)

        if name not in generator.used_names:
            generator.used_names.add(name)
            return name

    # A township name in front of the trade name makes the name unique again.
    for word in TRADE_WORDS:
        name = template.format(county=grid.county.name + grid.township.name, word=word)

        if name not in generator.used_names:
            generator.used_names.add(name)
            return name

    raise ExampleGenerationError(
        mark("no unused business name left for template {template!r}"), template=template
    )


def _credit_code(generator: _Generator, organisation_type: str, grid: Grid) -> str:
    # 9 is the registration authority for market regulation, followed by the
    # organisation type, the county code and an invented organisation code that
    # begins with MA, as many codes issued since 2015 do.
    while True:
        body = "".join(generator.rng.choice(ALPHABET) for _ in range(7))
        first17 = f"9{organisation_type}{grid.county.code}MA{body}"
        code = first17 + check_character(first17)

        if code not in generator.used_credit_codes:
            generator.used_credit_codes.add(code)
            return code


def _point_in(rng: random.Random, polygon: Polygon) -> tuple[float, float]:
    # Points keep 5 % of the cell size away from the edges, so rounding to 6 decimals
    # cannot move them out of the grid.
    west, south, east, north = polygon.bounds
    longitude = west + (east - west) * rng.uniform(0.05, 0.95)
    latitude = south + (north - south) * rng.uniform(0.05, 0.95)
    return round(longitude, 6), round(latitude, 6)


def _address(rng: random.Random, grid: Grid, rural: bool) -> str:
    place = f"{ADDRESS_PREFIX}{grid.county.name}{grid.township.name}"

    if rural and not grid.urban:
        village = rng.choice(VILLAGE_WORDS) + rng.choice(("嘎查", "村"))
        return f"{place}{village}{rng.randint(1, 12)}社"

    return f"{place}{rng.choice(ROAD_WORDS)}路{rng.randint(1, 300)}号"


def _write_csv(
    path: Path,
    columns: Sequence[str],
    rows: Sequence[DivisionRow | InspectorRow | SubjectRow],
) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)

        for row in rows:
            values = row.model_dump()
            writer.writerow([_format_value(values[column]) for column in columns])


def _format_value(value: object) -> str:
    if value is None:
        return ""

    if isinstance(value, float):
        return f"{value:.6f}"

    return str(value)


def main(argv: Sequence[str] | None = None) -> None:
    """Regenerate the example registry and print its counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=data_path("registry", "ordos"),
        help="folder to write divisions.csv, inspectors.csv and subjects.csv into "
        "(default: the package's registry/ordos folder)",
    )
    arguments = parser.parse_args(argv)
    configure_logging("INFO")

    counts = generate_registry(arguments.output_dir)

    logger.info("wrote example registry path=%s seed=%d", arguments.output_dir, SEED)
    for group, counter in counts.items():
        print(f"{group}: " + ", ".join(f"{key}={value}" for key, value in counter.items()))


if __name__ == "__main__":
    main()
