"""Plan files: how often each industry and risk grade is inspected, validated on load.

A plan folder holds one or more `<name>.yaml` files. Each file is one plan
version with the date it takes effect; a period uses the newest version in
effect on its first day.
"""

import logging
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from griddispatch.data import data_path
from griddispatch.errors import ConfigurationError
from storage.registry.rows import load_industries

log = logging.getLogger(__name__)

DEFAULT_PLAN_DIR = data_path("plans")
MONTHS_PER_YEAR = 12


class Cadence(StrEnum):
    """How long one inspection period lasts: each period needs one inspection."""

    MONTH = "month"
    QUARTER = "quarter"
    HALF = "half"
    YEAR = "year"

    @property
    def months(self) -> int:
        """The length of one period in months."""
        return {"month": 1, "quarter": 3, "half": 6, "year": 12}[self.value]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Month = Annotated[int, Field(ge=1, le=12)]
Fraction = Annotated[float, Field(gt=0, le=1)]


class GradeConfig(_Config):
    """One risk grade (风险分级) as the administrator names it."""

    code: Annotated[str, Field(min_length=1, max_length=16)]
    name: Annotated[str, Field(min_length=1, max_length=40)]


class SeasonalCheck(_Config):
    """Extra checks in given months, for every subject of the industry whatever its grade."""

    name: Annotated[str, Field(min_length=1, max_length=12, pattern=r"^[^\s/]+$")]
    months: Annotated[list[Month], Field(min_length=1)]


class IndustryPlan(_Config):
    """The inspection cadence of one industry, by risk grade."""

    cadence: dict[str, Cadence]
    seasonal: list[SeasonalCheck] = Field(default_factory=list)
    # When true the due date is the end of the last working day of the period; otherwise
    # the period's last moment.
    working_days: bool = True


class GradingConfig(_Config):
    """When a run of clean inspections lowers a raised grade by one step."""

    # Calendar days since the subject's last grade change.
    lower_after_days: Annotated[int, Field(ge=1)] = 180
    lower_after_clean_inspections: Annotated[int, Field(ge=1)] = 2


class WarningConfig(_Config):
    """The early warning on an area whose projected coverage falls short."""

    threshold: Fraction = 0.8
    # Share of the period that must have passed before an area is judged.
    check_from: Fraction = 0.5
    levels: list[str] = Field(default_factory=lambda: ["grid", "township", "county"])


class PlanFile(_Config):
    """One plan version as written in a YAML file."""

    version: Annotated[str, Field(min_length=1, max_length=20)]
    effective_from: date
    grades: Annotated[list[GradeConfig], Field(min_length=1)]
    default_grade: str
    # Share of the period over which each inspector's tasks are released, from its start.
    release_spread: Fraction = 0.5
    grading: GradingConfig = Field(default_factory=GradingConfig)
    warning: WarningConfig = Field(default_factory=WarningConfig)
    industries: dict[str, IndustryPlan]

    @model_validator(mode="after")
    def _check_references(self) -> "PlanFile":
        codes = [grade.code for grade in self.grades]
        if len(set(codes)) != len(codes):
            raise ValueError(f"grades: codes repeat in {codes}")
        if self.default_grade not in codes:
            raise ValueError(f"default_grade: {self.default_grade!r} is not one of {codes}")
        for industry, plan in self.industries.items():
            if set(plan.cadence) != set(codes):
                raise ValueError(
                    f"industries.{industry}.cadence: give a cadence for exactly the grades "
                    f"{codes}, got {sorted(plan.cadence)}"
                )
        unknown_levels = set(self.warning.levels) - {"grid", "township", "county"}
        if unknown_levels:
            raise ValueError(
                f"warning.levels: {sorted(unknown_levels)} are not grid, township or county"
            )
        return self


@dataclass(frozen=True)
class Plan:
    """A validated plan version and the file it came from."""

    path: Path
    spec: PlanFile

    @property
    def version(self) -> str:
        """The version label stored with each plan entry."""
        return self.spec.version

    @property
    def grade_codes(self) -> list[str]:
        """Grade codes from the highest risk to the lowest."""
        return [grade.code for grade in self.spec.grades]

    def cadence(self, industry: str, grade: str) -> Cadence:
        """Return how often a subject of `industry` and `grade` is inspected."""
        return self.spec.industries[industry].cadence[grade]

    def raised(self, grade: str) -> str:
        """Return the grade one step riskier than `grade` (the same at the top)."""
        codes = self.grade_codes
        return codes[max(codes.index(grade) - 1, 0)]

    def lowered(self, grade: str) -> str:
        """Return the grade one step less risky than `grade` (the same at the bottom)."""
        codes = self.grade_codes
        return codes[min(codes.index(grade) + 1, len(codes) - 1)]


@dataclass(frozen=True)
class PlanSet:
    """Every plan version of a folder, oldest first."""

    plans: tuple[Plan, ...]

    def for_day(self, day: date) -> Plan:
        """Return the newest plan in effect on `day`, or the oldest one before any took effect."""
        in_effect = [plan for plan in self.plans if plan.spec.effective_from <= day]
        return in_effect[-1] if in_effect else self.plans[0]

    @property
    def latest(self) -> Plan:
        """The newest plan version."""
        return self.plans[-1]

    def check_grade(self, grade: str, day: date) -> str:
        """Return `grade` stripped if the plan of `day` has it; raise ConfigurationError if not."""
        plan = self.for_day(day)
        code = grade.strip()
        if code not in plan.grade_codes:
            raise ConfigurationError(
                "risk grade {grade!r} is not defined in plan {version} ({path}); "
                "use one of {grades}",
                grade=grade,
                version=plan.version,
                path=plan.path,
                grades=plan.grade_codes,
            )
        return code


def _describe_problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "file"
        problems.append(f"field {field}: {error['msg']}")
    return "; ".join(problems)


def load_plan_file(path: Path) -> Plan:
    """Read and validate one plan file. Raises ConfigurationError naming the file and field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(
            "plan file {path} cannot be read: {exc}", path=path, exc=exc
        ) from exc
    try:
        spec = PlanFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(
            "plan file {path} is invalid: {problems}", path=path, problems=_describe_problems(exc)
        ) from exc
    missing = sorted(set(load_industries()) - set(spec.industries))
    unknown = sorted(set(spec.industries) - set(load_industries()))
    if missing or unknown:
        raise ConfigurationError(
            "plan file {path} is invalid: field industries: missing {missing}, unknown "
            "{unknown}; list exactly the industries of industries.csv",
            path=path,
            missing=missing,
            unknown=unknown,
        )
    return Plan(path=path, spec=spec)


def load_plans(folder: Path | None = None) -> PlanSet:
    """Load every `*.yaml` plan of `folder` (the shipped plans when None), by effective date."""
    directory = folder or DEFAULT_PLAN_DIR
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ConfigurationError(
            "plan folder {directory} has no *.yaml plan file; add one", directory=directory
        )
    plans = sorted((load_plan_file(path) for path in paths), key=lambda p: p.spec.effective_from)
    days = [plan.spec.effective_from for plan in plans]
    if len(set(days)) != len(days):
        raise ConfigurationError(
            "plan folder {directory} is invalid: two plan files take effect on the same day; "
            "give each version its own effective_from",
            directory=directory,
        )
    log.info("plans loaded folder=%s versions=%s", directory, [p.version for p in plans])
    return PlanSet(plans=tuple(plans))
