"""The escalation set-up a process runs with: its policies and its working calendar."""

from dataclasses import dataclass
from pathlib import Path

from griddispatch.data import data_path
from griddispatch.workcalendar import DEFAULT_WORKING_HOURS, WorkCalendar, parse_working_hours
from storage.escalation.policies import Policies, PolicyConfig, load_policies

DEFAULT_POLICY_FILE = data_path("policies", "escalation.yaml")


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
        calendar = WorkCalendar(folder=calendar_dir, working_hours=hours)
        return cls(policies=policies, calendar=calendar)

    def policy_for(self, kind: str, priority: str) -> PolicyConfig:
        """Return the policy a new task of `kind` and `priority` gets."""
        return self.policies.for_task(kind, priority)

    def policy_named(self, name: str, kind: str, priority: str) -> PolicyConfig:
        """Return the task's stored policy, or the matching one if the file dropped it."""
        return self.policies.by_name(name) or self.policy_for(kind, priority)
