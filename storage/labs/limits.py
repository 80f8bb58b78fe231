"""Maximum residue limits and banned substances, loaded from the CSV tables.

Every row keeps the file and line it came from and, for limits, the
standard and the confidence of the value, so a verdict can show where its
limit comes from. Names match in Chinese or English, ignoring case, spaces
and full-width forms; an analyte listed as a sum ("土霉素/金霉素/四环素")
matches each of its parts.
"""

import csv
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from griddispatch.data import data_path
from griddispatch.errors import ConfigurationError, ValidationError

log = logging.getLogger(__name__)

PESTICIDE_FILE = "pesticide-mrl.csv"
VET_DRUG_FILE = "vet-drug-mrl.csv"
BANNED_FILE = "banned.csv"
COMMODITIES_FILE = "commodities.csv"

# The general commodity names a ban's scope covers; a scope not listed covers every commodity.
_SCOPE_COMMODITIES = {
    "vegetables": frozenset({"蔬菜"}),
    "vegetables fruit tea fungi herbs": frozenset({"蔬菜", "水果", "茶叶", "食用菌", "中草药"}),
}
_COVERS_ALL = {
    "all uses",
    "all uses except quarantine fumigation",
    "sale and use",
    "food-producing animals: must not be detected",
}
_UNIT_FACTORS = {"mg/kg": 1.0, "ppm": 1.0, "μg/kg": 0.001, "ug/kg": 0.001, "ppb": 0.001}
_STANDARD_YEAR = re.compile(r"-(\d{4})\b")


def name_key(name: str) -> str:
    """Return the form in which two spellings of a commodity or analyte compare equal."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def to_mg_per_kg(value: float, unit: str) -> float:
    """Convert a measured value to mg/kg. Raises ValidationError for a unit it does not know."""
    factor = _UNIT_FACTORS.get(name_key(unit))
    if factor is None:
        raise ValidationError(
            "unit {unit!r} is not supported; give the value in mg/kg or µg/kg (ppm or ppb)",
            unit=unit,
        )
    return value * factor


@dataclass(frozen=True)
class ResidueLimit:
    """A maximum residue limit of one analyte in one commodity."""

    commodity_zh: str
    commodity_en: str
    analyte_zh: str
    analyte_en: str
    mrl_mg_per_kg: float
    standard: str
    confidence: str
    note: str
    row_source: str

    @property
    def standard_year(self) -> int | None:
        """Return the year in the standard's number (2021 for "GB 2763-2021"), if it has one."""
        found = _STANDARD_YEAR.search(self.standard)
        return int(found.group(1)) if found else None


@dataclass(frozen=True)
class BannedSubstance:
    """A substance banned in some or all uses, from the notice that banned it."""

    substance_zh: str
    substance_en: str
    kind: str
    scope: str
    banned_from: date | None
    notice: str
    row_source: str

    def applies(self, general_names: frozenset[str], sampled_on: date) -> bool:
        """Return whether the ban covers a commodity with these general names on that day."""
        if self.banned_from is not None and sampled_on < self.banned_from:
            return False
        covered = _SCOPE_COMMODITIES.get(self.scope)
        return covered is None or bool(covered & general_names)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            for index, row in enumerate(csv.DictReader(stream), start=2):
                yield index, {key: (value or "").strip() for key, value in row.items()}
    except FileNotFoundError as exc:
        raise ConfigurationError(
            "limit table {path} not found; GRIDDISPATCH_LIMITS_DIR must name a folder with "
            "{pesticide_file}, {vet_drug_file}, {banned_file} and {commodities_file}",
            path=path,
            pesticide_file=PESTICIDE_FILE,
            vet_drug_file=VET_DRUG_FILE,
            banned_file=BANNED_FILE,
            commodities_file=COMMODITIES_FILE,
        ) from exc


def _parse_float(path: Path, line: int, text: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise ConfigurationError(
            "{file_name} line {line}: limit {text!r} is not a number",
            file_name=path.name,
            line=line,
            text=text,
        ) from exc


def _parse_date(path: Path, line: int, text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigurationError(
            "{file_name} line {line}: date {text!r} is invalid; write it as YYYY-MM-DD",
            file_name=path.name,
            line=line,
            text=text,
        ) from exc


def _analyte_keys(zh: str, en: str) -> set[str]:
    keys = {name_key(zh), name_key(en)}
    for name in (zh, en):
        keys.update(name_key(part) for part in name.split("/") if part.strip())
    keys.discard("")
    return keys


class LimitTables:
    """The limit and ban tables of one folder, indexed by commodity and analyte names."""

    def __init__(
        self,
        limits: list[ResidueLimit],
        banned: list[BannedSubstance],
        general: dict[str, frozenset[str]],
    ) -> None:
        self.limits = limits
        self.banned = banned
        self._general = general
        self._limit_index: dict[tuple[str, str], ResidueLimit] = {}
        for limit in limits:
            for commodity in {name_key(limit.commodity_zh), name_key(limit.commodity_en)}:
                for analyte in _analyte_keys(limit.analyte_zh, limit.analyte_en):
                    self._limit_index.setdefault((commodity, analyte), limit)
        self._banned_index: dict[str, list[BannedSubstance]] = {}
        for substance in banned:
            for analyte in _analyte_keys(substance.substance_zh, substance.substance_en):
                self._banned_index.setdefault(analyte, []).append(substance)

    @classmethod
    def load(cls, folder: Path | None = None) -> "LimitTables":
        """Read the four tables from `folder`, or the shipped ones when it is None."""
        folder = folder or data_path("limits")
        limits = [
            *cls._read_limits(folder / PESTICIDE_FILE),
            *cls._read_limits(folder / VET_DRUG_FILE),
        ]
        banned = cls._read_banned(folder / BANNED_FILE)
        general = cls._read_commodities(folder / COMMODITIES_FILE)
        log.info(
            "limit tables loaded folder=%s limits=%d banned=%d", folder, len(limits), len(banned)
        )
        return cls(limits, banned, general)

    @staticmethod
    def _read_limits(path: Path) -> list[ResidueLimit]:
        return [
            ResidueLimit(
                commodity_zh=row["commodity_zh"],
                commodity_en=row["commodity_en"],
                analyte_zh=row["analyte_zh"],
                analyte_en=row["analyte_en"],
                mrl_mg_per_kg=_parse_float(path, line, row["mrl_mg_per_kg"]),
                standard=row["standard"],
                confidence=row["confidence"] or "medium",
                note=row.get("note", ""),
                row_source=f"{path.name} line {line}",
            )
            for line, row in _rows(path)
        ]

    @staticmethod
    def _read_banned(path: Path) -> list[BannedSubstance]:
        banned = []
        for line, row in _rows(path):
            if row["scope"] not in _COVERS_ALL and row["scope"] not in _SCOPE_COMMODITIES:
                # NOTE: an unknown scope is taken to cover every commodity, which may flag a
                # sample the ban does not cover; the inspector's check settles it.
                log.warning("ban scope not understood, taken as all commodities row=%d", line)
            banned.append(
                BannedSubstance(
                    substance_zh=row["substance_zh"],
                    substance_en=row["substance_en"],
                    kind=row["kind"],
                    scope=row["scope"],
                    banned_from=_parse_date(path, line, row["banned_from"]),
                    notice=row["source"],
                    row_source=f"{path.name} line {line}",
                )
            )
        return banned

    @staticmethod
    def _read_commodities(path: Path) -> dict[str, frozenset[str]]:
        general: dict[str, frozenset[str]] = {}
        for _, row in _rows(path):
            names = frozenset(name for name in row["general"].split(";") if name)
            general[name_key(row["commodity_zh"])] = names
            general[name_key(row["commodity_en"])] = names
        return general

    def general_names(self, commodity: str) -> frozenset[str]:
        """Return the commodity's name and the more general names its limits may be under."""
        return frozenset({commodity, *self._general.get(name_key(commodity), frozenset())})

    def limit_for(self, commodity: str, analyte: str) -> ResidueLimit | None:
        """Return the limit for the commodity itself, else under one of its general names."""
        analyte_key = name_key(analyte)
        general = self._general.get(name_key(commodity), frozenset())
        for name in (commodity, *sorted(general)):
            limit = self._limit_index.get((name_key(name), analyte_key))
            if limit is not None:
                return limit
        return None

    def ban_for(self, commodity: str, analyte: str, sampled_on: date) -> BannedSubstance | None:
        """Return the ban that covers this analyte in this commodity on that day, if any."""
        names = self.general_names(commodity)
        for substance in self._banned_index.get(name_key(analyte), []):
            if substance.applies(names, sampled_on):
                return substance
        return None
