"""The escalation chain of an unacknowledged task."""

from dataclasses import dataclass


@dataclass(frozen=True)
class EscalationPolicy:
    """Timings of the chain: remind the assignee, then hand over to the grid leader.

    Step 1 fires `remind_after_s` after the acknowledge deadline and reminds
    the assignee; step 2 fires `escalate_after_s` after step 1 and notifies the
    grid leader. A task that leaves state NEW stops the chain.
    """

    default_ack_within_s: float = 4 * 3600.0
    remind_after_s: float = 0.0
    escalate_after_s: float = 1800.0


STEP_REMIND = 1
STEP_ESCALATE = 2
LAST_STEP = STEP_ESCALATE
