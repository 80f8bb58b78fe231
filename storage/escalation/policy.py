"""The escalation set-up a process runs with: its policies and its working calendar."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from griddispatch.data import data_path
from griddispatch.workcalendar import DEFAULT_WORKING_HOURS, WorkCalendar, parse_working_hours
from storage.escalation.policies import Policies, PolicyConfig, load_policies

DEFAULT_POLICY_FILE = data_path("policies", "escalation.yaml")


class CachedWorkCalendar(WorkCalendar):
    """A WorkCalendar that remembers which days are working days until the next reload.

    A sweep resolves a dozen step times per due task, each walking day by day,
    and chinese-calendar's `is_workday` (1.11.0) checks the date against the
    range of its tables with `min` and `max` over them at every call.
    """

    def __post_init__(self) -> None:
        self._workdays: dict[date, bool] = {}
        super().__post_init__()

    def reload(self) -> None:
        """Read the year files again and forget the days worked out from the old ones."""
        super().reload()
        self._workdays = {}

    def is_workday(self, day: date) -> bool:
        """Return whether `day` is a working day in mainland China."""
        known = self._workdays.get(day)
        if known is None:
            known = self._workdays[day] = super().is_workday(day)
        return known


@dataclass(frozen=True)
class Escalation:
    """Policies and calendar, as every service that sets deadlines or fires steps needs them."""

    policies: Policies
    calendar: WorkCalendar

    @classmethod
    def load(
        cls,
        policy_file: Path | None = None,
        calendar_dir: Path | None = None,
        working_hours: str | None = None,
    ) -> "Escalation":
        """Load the policy file (the shipped defaults when None) and the calendar folder."""
        policies = load_policies(policy_file or DEFAULT_POLICY_FILE)
        hours = parse_working_hours(working_hours) if working_hours else DEFAULT_WORKING_HOURS
        calendar = CachedWorkCalendar(folder=calendar_dir, working_hours=hours)
        return cls(policies=policies, calendar=calendar)

    def policy_for(self, kind: str, priority: str) -> PolicyConfig:
        """Return the policy a new task of `kind` and `priority` gets."""
        return self.policies.for_task(kind, priority)

    def policy_named(self, name: str, kind: str, priority: str) -> PolicyConfig:
        """Return the task's stored policy, or the matching one if the file dropped it."""
        return self.policies.by_name(name) or self.policy_for(kind, priority)
