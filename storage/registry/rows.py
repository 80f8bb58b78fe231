"""Models for one parsed row of each registry file kind, and the error for a rejected row.

The models accept the values a registry clerk types: Chinese names for levels, roles,
industries and coordinate systems, codes with stray spaces, phone numbers with a +86
prefix. Validators raise InvalidValue, whose message template names the value and the
problem, so a rejected row can be reported in the reader's language.
"""

import csv
import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal, Self

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import ErrorDetails
from shapely.errors import ShapelyError
from shapely.geometry import shape

from griddispatch.data import data_path
from griddispatch.errors import ErrorList, GridDispatchError, InvalidValue, ValidationError
from griddispatch.i18n import Phrase, mark
from storage.registry.credit_code import validate_credit_code

DivisionLevel = Literal["city", "county", "township", "grid"]
InspectorRole = Literal["inspector", "grid_leader", "township", "county", "command_centre"]
CoordinateSystem = Literal["wgs84", "gcj02", "bd09"]

# Rough bounding box of China as (min longitude, min latitude, max longitude, max latitude).
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)

LEVEL_ALIASES: dict[str, DivisionLevel] = {
    "city": "city",
    "城市": "city",
    "市": "city",
    "盟": "city",
    "盟市": "city",
    "county": "county",
    "旗县区": "county",
    "旗县": "county",
    "区县": "county",
    "县": "county",
    "旗": "county",
    "区": "county",
    "township": "township",
    "乡镇": "township",
    "苏木乡镇": "township",
    "乡镇街道": "township",
    "苏木": "township",
    "乡": "township",
    "镇": "township",
    "街道": "township",
    "grid": "grid",
    "网格": "grid",
}

ROLE_ALIASES: dict[str, InspectorRole] = {
    "inspector": "inspector",
    "监管员": "inspector",
    "网格监管员": "inspector",
    "网格员": "inspector",
    "grid_leader": "grid_leader",
    "网格长": "grid_leader",
    "township": "township",
    "乡镇": "township",
    "苏木乡镇": "township",
    "乡镇监管员": "township",
    "county": "county",
    "旗县": "county",
    "旗县区": "county",
    "旗县监管员": "county",
    "command_centre": "command_centre",
    "command_center": "command_centre",
    "指挥中心": "command_centre",
}

# Keys are lowercase with spaces, hyphens and underscores removed.
REGISTERED_ALIASES = {
    "已备案": True,
    "已登记": True,
    "是": True,
    "yes": True,
    "true": True,
    "1": True,
    "未备案": False,
    "未登记": False,
    "否": False,
    "no": False,
    "false": False,
    "0": False,
}

COORDINATE_SYSTEM_ALIASES: dict[str, CoordinateSystem] = {
    "wgs84": "wgs84",
    "gps": "wgs84",
    "gcj02": "gcj02",
    "火星坐标": "gcj02",
    "高德": "gcj02",
    "腾讯": "gcj02",
    "bd09": "bd09",
    "百度": "bd09",
}

# Statistical division codes have 6 digits down to the county level and 9 digits for
# townships. Grids have no national scheme, so any code of 12 or more digits is accepted.
_CODE_LENGTHS: dict[DivisionLevel, tuple[int, int]] = {
    "city": (6, 6),
    "county": (6, 6),
    "township": (9, 9),
    "grid": (12, 64),
}
_PARENT_LEVEL: dict[DivisionLevel, DivisionLevel] = {
    "county": "city",
    "township": "county",
    "grid": "township",
}
_ROLE_DIVISION_LEVEL: dict[InspectorRole, DivisionLevel] = {
    "inspector": "grid",
    "grid_leader": "grid",
    "township": "township",
    "county": "county",
    "command_centre": "city",
}

# Names of levels and roles in messages. Their Chinese translations are aliases that the
# files accept, so a clerk reads the words they type.
LEVEL_NAMES: dict[str, Phrase] = {
    "city": mark("city"),
    "county": mark("county"),
    "township": mark("township"),
    "grid": mark("grid"),
}
ROLE_NAMES: dict[InspectorRole, Phrase] = {
    "inspector": mark("inspector"),
    "grid_leader": mark("grid_leader"),
    "township": mark("township"),
    "county": mark("county"),
    "command_centre": mark("command_centre"),
}
# The label of division code columns in messages. Other labels are column names.
DIVISION_CODE = mark("division code")

_MOBILE_PATTERN = re.compile(r"1[3-9]\d{9}")
_PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")


@dataclass(frozen=True)
class Industry:
    """One of the registry's industries, as listed in the package's industries.csv."""

    code: str
    name_zh: str
    name_en: str
    group_zh: str
    checklist: str


@dataclass(frozen=True)
class RowError:
    """A registry row that was rejected, located as a spreadsheet user counts lines."""

    file: str
    line: int
    problem: GridDispatchError

    @property
    def reason(self) -> str:
        """The problem in English, the text logs carry."""
        return str(self.problem)

    def localized(self, locale: str) -> str:
        """Format the file, line and problem, with the problem in `locale`."""
        return f"{self.file}:{self.line}: {self.problem.localized(locale)}"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@functools.cache
def load_industries() -> dict[str, Industry]:
    """Read the industries shipped with the package, keyed by industry code."""
    with data_path("industries.csv").open(encoding="utf-8", newline="") as stream:
        return {record["code"]: Industry(**record) for record in csv.DictReader(stream)}


def mask_phone(phone: str) -> str:
    """Mask a phone number for messages and logs, keeping the first 3 and last 4 characters."""
    if len(phone) <= 7:
        return "*" * len(phone)

    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def describe_validation_error(error: pydantic.ValidationError) -> GridDispatchError:
    """Turn a pydantic error for a row model into one error per problem.

    Several problems come as an ErrorList, whose English text joins them with "; ".
    """
    problems = [_describe_detail(detail) for detail in error.errors()]

    if len(problems) == 1:
        return problems[0]

    return ErrorList(problems)


def _describe_detail(detail: ErrorDetails) -> GridDispatchError:
    field = ".".join(str(part) for part in detail["loc"])
    cause = detail.get("ctx", {}).get("error")

    if isinstance(cause, GridDispatchError):
        return cause

    if detail["type"] == "missing":
        return ValidationError("{field} is missing", field=field)

    if detail["type"] == "string_too_long":
        # The same words as pydantic's own message, which it has only in English.
        return ValidationError(
            '{field} "{value}" is invalid: String should have at most {max_length} characters',
            field=field,
            value=detail["input"],
            max_length=detail.get("ctx", {}).get("max_length"),
        )

    # NOTE: pydantic's message for any other failure stays English in every locale.
    return ValidationError(
        '{field} "{value}" is invalid: {reason}',
        field=field,
        value=detail["input"],
        reason=detail["msg"] if cause is None else cause,
    )


def _require_digits(value: str, label: str) -> str:
    compact = "".join(value.split())

    if not compact.isascii() or not compact.isdigit():
        raise InvalidValue(
            '{label} "{value}" is invalid: it must contain only digits', label=label, value=value
        )

    return compact


def _require_code_length(code: str, level: DivisionLevel, label: str) -> None:
    shortest, longest = _CODE_LENGTHS[level]

    if shortest <= len(code) <= longest:
        return

    values = {"label": label, "code": code, "level": LEVEL_NAMES[level], "length": len(code)}

    if shortest == longest:
        raise InvalidValue(
            '{label} "{code}" is invalid: a {level} code has {digits} digits, not {length}',
            digits=shortest,
            **values,
        )

    if len(code) < shortest:
        raise InvalidValue(
            '{label} "{code}" is invalid: a {level} code has at least {digits} digits, '
            "not {length}",
            digits=shortest,
            **values,
        )

    raise InvalidValue(
        '{label} "{code}" is invalid: a {level} code has at most {digits} digits, not {length}',
        digits=longest,
        **values,
    )


def _lookup_alias(value: object, aliases: dict[str, Any], label: str) -> Any:
    text = str(value).strip()
    found = aliases.get(text) or aliases.get(text.lower())

    if found is None:
        raise InvalidValue(
            '{label} "{text}" is invalid: expected one of {accepted}',
            label=label,
            text=text,
            accepted=_describe_aliases(aliases),
        )

    return found


def _describe_aliases(aliases: dict[str, Any]) -> str:
    names: dict[str, list[str]] = {}

    for alias, value in aliases.items():
        if alias != value:
            names.setdefault(value, []).append(alias)

    return ", ".join(f"{value} ({'/'.join(others)})" for value, others in names.items())


class _RegistryRow(BaseModel):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=True, extra="forbid")


class DivisionRow(_RegistryRow):
    """One administrative division or grid: a row of a divisions file."""

    code: str
    name: str = Field(min_length=1)
    level: DivisionLevel
    parent_code: str | None = None
    # GeoJSON Polygon or MultiPolygon in WGS-84, normally given only for grids.
    boundary_geojson: str | None = None

    @field_validator("code", "parent_code")
    @classmethod
    def _check_digits(cls, value: str | None) -> str | None:
        return None if value is None else _require_digits(value, DIVISION_CODE)

    @field_validator("level", mode="before")
    @classmethod
    def _normalize_level(cls, value: object) -> DivisionLevel:
        level: DivisionLevel = _lookup_alias(value, LEVEL_ALIASES, "level")
        return level

    @field_validator("boundary_geojson")
    @classmethod
    def _check_boundary(cls, value: str | None) -> str | None:
        if value is not None:
            _validate_boundary(value)

        return value

    @model_validator(mode="after")
    def _check_codes(self) -> Self:
        _require_code_length(self.code, self.level, DIVISION_CODE)

        if self.level == "city":
            return self

        if self.parent_code is None:
            raise InvalidValue(
                'parent_code is missing for {level} "{code}"',
                level=LEVEL_NAMES[self.level],
                code=self.code,
            )

        _require_code_length(self.parent_code, _PARENT_LEVEL[self.level], "parent_code")

        if self.level == "township" and not self.code.startswith(self.parent_code):
            raise InvalidValue(
                'township code "{code}" is invalid: it must begin with the code of '
                'its county "{parent_code}"',
                code=self.code,
                parent_code=self.parent_code,
            )

        return self


def _validate_boundary(text: str) -> None:
    preview = text if len(text) <= 40 else text[:40] + "…"

    try:
        geometry = json.loads(text)
    except json.JSONDecodeError as error:
        # NOTE: the JSON decoder's reason (error.msg) stays English in every locale.
        raise InvalidValue(
            'boundary_geojson "{preview}" is invalid: it is not JSON ({reason})',
            preview=preview,
            reason=error.msg,
        ) from error

    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidValue(
            'boundary_geojson "{preview}" is invalid: expected a GeoJSON Polygon or MultiPolygon',
            preview=preview,
        )

    # shapely raises KeyError, TypeError or ValueError for missing or malformed coordinates,
    # and pydantic would pass the first two through as crashes.
    try:
        polygon = shape(geometry)
    except (KeyError, TypeError, ValueError, ShapelyError) as error:
        raise InvalidValue(
            'boundary_geojson "{preview}" is invalid: its coordinates do not form a GeoJSON '
            "{geometry_type}; give rings of longitude, latitude pairs",
            preview=preview,
            geometry_type=geometry["type"],
        ) from error

    _check_polygon(polygon, preview)


def _check_polygon(polygon: Any, preview: str) -> None:
    if polygon.is_empty or not polygon.is_valid:
        raise InvalidValue(
            'boundary_geojson "{preview}" is invalid: the polygon is empty or crosses itself',
            preview=preview,
        )

    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    if not (_inside_china(min_lon, min_lat) and _inside_china(max_lon, max_lat)):
        raise InvalidValue(
            'boundary_geojson "{preview}" is invalid: it reaches outside China '
            "(73–136 E, 3–54 N); give WGS-84 longitude, latitude pairs",
            preview=preview,
        )


def _inside_china(longitude: float, latitude: float) -> bool:
    min_lon, min_lat, max_lon, max_lat = CHINA_BOUNDS
    return min_lon <= longitude <= max_lon and min_lat <= latitude <= max_lat


class InspectorRow(_RegistryRow):
    """One supervision staff member: a row of an inspectors file."""

    # Staff id, unique within the registry.
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)
    # Mainland mobile number, 11 digits, stored without separators or +86 prefix.
    phone: str | None = None
    role: InspectorRole
    # The grid for inspectors and grid leaders, the township, county or city otherwise.
    division_code: str

    @field_validator("phone", mode="before")
    @classmethod
    def _normalize_phone(cls, value: object) -> str | None:
        return None if value is None else _normalize_mobile(str(value))

    @field_validator("role", mode="before")
    @classmethod
    def _normalize_role(cls, value: object) -> InspectorRole:
        role: InspectorRole = _lookup_alias(value, ROLE_ALIASES, "role")
        return role

    @field_validator("division_code")
    @classmethod
    def _check_division_digits(cls, value: str) -> str:
        return _require_digits(value, "division_code")

    @model_validator(mode="after")
    def _check_division_level(self) -> Self:
        level = _ROLE_DIVISION_LEVEL[self.role]

        try:
            _require_code_length(self.division_code, level, "division_code")
        except InvalidValue as error:
            raise InvalidValue(
                "{error}, because role {role} belongs to a {level}",
                error=error,
                role=ROLE_NAMES[self.role],
                level=LEVEL_NAMES[level],
            ) from error

        return self


def _normalize_mobile(text: str) -> str:
    compact = _PHONE_SEPARATORS.sub("", text)

    for prefix in ("+86", "0086", "86"):
        if compact.startswith(prefix) and len(compact) == len(prefix) + 11:
            compact = compact[len(prefix) :]
            break

    if not _MOBILE_PATTERN.fullmatch(compact):
        raise InvalidValue(
            'phone "{phone}" is invalid: expected an 11-digit mainland mobile '
            "number starting with 13-19, got {length} characters",
            phone=mask_phone(compact),
            length=len(compact),
        )

    return compact


class SubjectRow(_RegistryRow):
    """One producer or business under supervision: a row of a subjects file."""

    # Unified social credit code, normalized by validate_credit_code.
    credit_code: str | None = None
    # Another id for a subject without a credit code, usually a smallholder.
    other_id: str | None = None
    name: str = Field(min_length=1)
    # Industry code from industries.csv, also accepted as its Chinese or English name.
    industry: str
    grid_code: str
    inspector_code: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    # NOTE: the row keeps longitude and latitude in this system. Callers convert them to
    # WGS-84, for example with griddispatch.geo.to_wgs84.
    coordinate_system: CoordinateSystem = "wgs84"
    address: str | None = None
    # Whether the subject has registered (登记备案); known but unregistered subjects are listed
    # too, because the registration rate counts them.
    registered: bool = True
    # Risk grade (风险分级) from the inspection plan's grade list; checked against the plan on
    # import. None keeps the subject's grade, or gives a new subject the plan's default.
    risk_grade: str | None = Field(default=None, max_length=16)

    @field_validator("credit_code", mode="before")
    @classmethod
    def _check_credit_code(cls, value: object) -> str | None:
        return None if value is None else validate_credit_code(str(value))

    @field_validator("industry", mode="before")
    @classmethod
    def _normalize_industry(cls, value: object) -> str:
        return _lookup_industry(str(value).strip())

    @field_validator("grid_code")
    @classmethod
    def _check_grid_code(cls, value: str) -> str:
        code = _require_digits(value, "grid_code")
        _require_code_length(code, "grid", "grid_code")
        return code

    @field_validator("longitude", "latitude", mode="before")
    @classmethod
    def _parse_coordinate(cls, value: object, info: pydantic.ValidationInfo) -> float | None:
        return None if value is None else _parse_degrees(value, str(info.field_name))

    @field_validator("registered", mode="before")
    @classmethod
    def _normalize_registered(cls, value: object) -> bool:
        if value is None or value == "":
            return True
        key = str(value).strip().lower()
        if key in REGISTERED_ALIASES:
            return REGISTERED_ALIASES[key]
        raise InvalidValue(
            'registered "{value}" is invalid: expected 已备案 or 未备案 (or yes / no)', value=value
        )

    @field_validator("coordinate_system", mode="before")
    @classmethod
    def _normalize_coordinate_system(cls, value: object) -> CoordinateSystem:
        key = re.sub(r"[\s\-_]", "", str(value)).lower()
        system = COORDINATE_SYSTEM_ALIASES.get(key)

        if system is None:
            raise InvalidValue(
                'coordinate_system "{value}" is invalid: expected wgs84 (GPS), gcj02 '
                "(AMap, Tencent) or bd09 (Baidu)",
                value=value,
            )

        return system

    @model_validator(mode="after")
    def _check_identity_and_location(self) -> Self:
        if self.credit_code is None and self.other_id is None:
            raise InvalidValue(
                "credit_code and other_id are both missing: give the unified social credit "
                "code, or another id for a smallholder without one"
            )

        _check_location(self.longitude, self.latitude)
        return self


def _lookup_industry(text: str) -> str:
    for industry in load_industries().values():
        if text in (industry.code, industry.name_zh) or text.lower() == industry.name_en:
            return industry.code

    accepted = ", ".join(
        f"{industry.code} ({industry.name_zh})" for industry in load_industries().values()
    )
    raise InvalidValue(
        'industry "{text}" is invalid: expected one of {accepted}', text=text, accepted=accepted
    )


def _parse_degrees(value: object, field: str) -> float:
    try:
        degrees = float(str(value).strip())
    except ValueError as error:
        raise InvalidValue(
            '{field} "{value}" is invalid: expected decimal degrees such as 109.78',
            field=field,
            value=value,
        ) from error

    if not math.isfinite(degrees):
        raise InvalidValue(
            '{field} "{value}" is invalid: expected a finite number of degrees',
            field=field,
            value=value,
        )

    return degrees


def _check_location(longitude: float | None, latitude: float | None) -> None:
    if longitude is None and latitude is None:
        return

    if longitude is None or latitude is None:
        raise InvalidValue("longitude and latitude must be given together, but one is missing")

    if not _inside_china(longitude, latitude):
        raise InvalidValue(
            "location {longitude}, {latitude} is invalid: it lies outside China "
            "(73–136 E, 3–54 N); check that longitude and latitude are not swapped",
            longitude=longitude,
            latitude=latitude,
        )
