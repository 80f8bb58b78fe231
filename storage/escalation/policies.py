"""Escalation policies: data files that say when and how overdue work climbs the chain.

A policy applies to tasks of some kinds and priorities. It sets the two
clocks of a task (acknowledge-by and result-due-by) and a list of steps;
each step fires once, `after` its condition's deadline, while the
condition still holds. `validate_policies` names the file, the policy and
the field of every problem.
"""

import functools
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from griddispatch.deadlines import DeadlineSpec, check_deadline_text, parse_deadline
from griddispatch.errors import ConfigurationError
from griddispatch.messages import Priority


class Condition(StrEnum):
    """What must still be true for a step to fire, and which clock it counts from."""

    NOT_ACKNOWLEDGED = "not_acknowledged"  # from the acknowledge-by time
    NOT_SUBMITTED = "not_submitted"  # from the result-due-by time
    NOT_REVIEWED = "not_reviewed"  # from the review-due-by time, set on submission


class Action(StrEnum):
    """The action a step takes."""

    REMIND_ASSIGNEE = "remind_assignee"
    NOTIFY_GRID_LEADER = "notify_grid_leader"
    REASSIGN_TO_GRID_LEADER = "reassign_to_grid_leader"
    NOTIFY_TOWNSHIP = "notify_township"
    NOTIFY_COUNTY = "notify_county"
    NOTIFY_COMMAND_CENTRE = "notify_command_centre"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_deadline(value: str) -> str:
    return check_deadline_text(value)


def _check_delay(value: str) -> str:
    return check_deadline_text(value, allow_zero=True)


class StepConfig(_Config):
    """One step of a chain as written in the file."""

    after: Annotated[str, Field(description="time after the condition's deadline")] = "0m"
    when: Condition
    action: Action

    _after = field_validator("after")(_check_delay)

    @property
    def delay(self) -> DeadlineSpec:
        return _parse_delay(self.after)


@functools.lru_cache(maxsize=256)
def _parse_delay(text: str) -> DeadlineSpec:
    # Every sweep resolves every pending step of every due task, so parse each text once.
    return parse_deadline(text, allow_zero=True)


class PolicyConfig(_Config):
    """One policy as written in the file."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]
    description: str = ""
    kinds: list[str] = Field(default_factory=list, description="task kinds; empty means any")
    priorities: list[Priority] = Field(default_factory=list, description="empty means any")
    ack_within: str
    due_within: str
    review_within: str = "2 working days"
    steps: list[StepConfig]

    _deadlines = field_validator("ack_within", "due_within", "review_within")(_check_deadline)

    def matches(self, kind: str, priority: str) -> bool:
        """Return whether this policy applies to a task of `kind` and `priority`."""
        kind_matches = not self.kinds or kind in self.kinds
        priority_matches = not self.priorities or priority in {p.value for p in self.priorities}
        return kind_matches and priority_matches


class PolicyFile(_Config):
    """A policy file: policies tried in order, the last one matching everything."""

    policies: Annotated[list[PolicyConfig], Field(min_length=1)]


@dataclass(frozen=True)
class Policies:
    """The loaded policies and the file they came from."""

    path: Path
    policies: tuple[PolicyConfig, ...]

    def for_task(self, kind: str, priority: str) -> PolicyConfig:
        """Return the first policy that applies to a task of `kind` and `priority`."""
        for policy in self.policies:
            if policy.matches(kind, priority):
                return policy
        raise ConfigurationError(
            "no policy in {path} applies to kind {kind!r} priority {priority!r}; "
            "end the file with a policy without kinds and priorities",
            path=self.path,
            kind=kind,
            priority=priority,
        )

    def by_name(self, name: str) -> PolicyConfig | None:
        """Return the policy called `name`, or None if the file no longer has it."""
        return next((policy for policy in self.policies if policy.name == name), None)


def _describe_problems(data: object, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = list(error["loc"])
        policy = ""
        if len(location) >= 2 and location[0] == "policies" and isinstance(location[1], int):
            entries = data.get("policies") if isinstance(data, dict) else None
            entry = entries[location[1]] if isinstance(entries, list) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            policy = f"policy {name or '#' + str(location[1] + 1)!s}, "
            location = location[2:]
        field = ".".join(str(part) for part in location) or "file"
        problems.append(f"{policy}field {field}: {error['msg']}")
    return "; ".join(problems)


def load_policies(path: Path) -> Policies:
    """Read and validate a policy file. Raises ConfigurationError naming file, policy and field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(
            "escalation policy file {path} cannot be read: {exc}", path=path, exc=exc
        ) from exc
    try:
        parsed = PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(
            "escalation policy file {path} is invalid: {problems}",
            path=path,
            problems=_describe_problems(data, exc),
        ) from exc
    _check_catch_all(path, parsed)
    return Policies(path=path, policies=tuple(parsed.policies))


def _check_catch_all(path: Path, parsed: PolicyFile) -> None:
    last = parsed.policies[-1]
    if last.kinds or last.priorities:
        raise ConfigurationError(
            "escalation policy file {path} is invalid: policy {policy}, the last one, must "
            "have no kinds and no priorities so that every task has a policy",
            path=path,
            policy=last.name,
        )
    names = [policy.name for policy in parsed.policies]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigurationError(
            "escalation policy file {path} is invalid: policy names repeat: {names}",
            path=path,
            names=", ".join(repeated),
        )
