"""Checklists (检查表) as versioned data files, chosen by the subject's industry."""

import csv
import functools
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from griddispatch.data import data_path
from griddispatch.errors import ConfigurationError

CHECKLIST_DIR = data_path("checklists")


class ChecklistItem(BaseModel):
    """One item to check, with the legal basis it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z]{2}\d{2}$")
    text: str = Field(min_length=1)
    basis: str = Field(min_length=1)
    industries: list[str] = Field(default_factory=list, description="empty means all")


class Checklist(BaseModel):
    """A checklist file: its group, title, version and items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    industry_group: str
    title: str
    version: str
    items: list[ChecklistItem] = Field(min_length=1)

    def items_for(self, industry: str) -> list[ChecklistItem]:
        """Return the items that apply to a subject of `industry`, in file order."""
        return [item for item in self.items if not item.industries or industry in item.industries]


def _read(path: Path) -> Checklist:
    try:
        return Checklist.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(
            "checklist file {path} cannot be read: {exc}", path=path, exc=exc
        ) from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(
            "checklist file {path} is invalid: {problems}", path=path, problems=problems
        ) from exc


@functools.cache
def load_checklists(folder: Path = CHECKLIST_DIR) -> dict[str, Checklist]:
    """Return every checklist in `folder` by its industry group."""
    checklists = {}
    for path in sorted(folder.glob("*.yaml")):
        checklist = _read(path)
        checklists[checklist.industry_group] = checklist
    return checklists


@functools.cache
def _group_of_industry() -> dict[str, str]:
    with data_path("industries.csv").open(encoding="utf-8", newline="") as handle:
        return {row["code"]: row["checklist"] for row in csv.DictReader(handle)}


def checklist_for(industry: str) -> Checklist:
    """Return the checklist for a subject's industry. Raises ConfigurationError if none exists."""
    group = _group_of_industry().get(industry)
    checklists = load_checklists()
    if group is None or group not in checklists:
        raise ConfigurationError(
            "no checklist for industry {industry!r}; add it to industries.csv and a checklist file",
            industry=industry,
        )
    return checklists[group]
