"""The task state machine: the only definition of which state changes are legal."""

from enum import StrEnum

from griddispatch.errors import IllegalTransitionError
from griddispatch.i18n import Phrase, Phrases
from griddispatch.labels import ACTION_LABELS, STATE_LABELS


class TaskState(StrEnum):
    """Where a task stands."""

    NEW = "new"  # 待签收: delivered or being delivered, not yet acknowledged
    ACKNOWLEDGED = "acknowledged"  # 已签收
    DECLINED = "declined"  # 无法执行: handed back for reassignment
    SUBMITTED = "submitted"  # 已提交结果
    CLOSED = "closed"  # 已办结
    CANCELLED = "cancelled"  # 已撤销


class TaskAction(StrEnum):
    """Something that changes a task's state."""

    ACKNOWLEDGE = "acknowledge"
    DECLINE = "decline"
    SUBMIT = "submit"
    CLOSE = "close"
    CANCEL = "cancel"
    REASSIGN = "reassign"


OPEN_STATES = frozenset({TaskState.NEW, TaskState.ACKNOWLEDGED, TaskState.DECLINED})
# The same states as stored, in a fixed order, for SQL IN lists.
OPEN_STATE_VALUES = sorted(state.value for state in OPEN_STATES)

_TRANSITIONS: dict[tuple[TaskState, TaskAction], TaskState] = {
    (TaskState.NEW, TaskAction.ACKNOWLEDGE): TaskState.ACKNOWLEDGED,
    (TaskState.NEW, TaskAction.DECLINE): TaskState.DECLINED,
    (TaskState.NEW, TaskAction.CANCEL): TaskState.CANCELLED,
    (TaskState.NEW, TaskAction.REASSIGN): TaskState.NEW,
    (TaskState.ACKNOWLEDGED, TaskAction.SUBMIT): TaskState.SUBMITTED,
    (TaskState.ACKNOWLEDGED, TaskAction.DECLINE): TaskState.DECLINED,
    (TaskState.ACKNOWLEDGED, TaskAction.CANCEL): TaskState.CANCELLED,
    (TaskState.DECLINED, TaskAction.REASSIGN): TaskState.NEW,
    (TaskState.DECLINED, TaskAction.CANCEL): TaskState.CANCELLED,
    (TaskState.SUBMITTED, TaskAction.CLOSE): TaskState.CLOSED,
    (TaskState.SUBMITTED, TaskAction.CANCEL): TaskState.CANCELLED,
}


def next_state(current: str, action: TaskAction) -> TaskState:
    """Return the state a task in `current` moves to under `action`.

    Raises IllegalTransitionError when the action is not allowed from `current`.
    """
    state = TaskState(current)
    target = _TRANSITIONS.get((state, action))
    if target is None:
        allowed = sorted(a.value for (s, a) in _TRANSITIONS if s == state)
        named_action = Phrase(action.value, ACTION_LABELS[action.value])
        named_state = Phrase(state.value, STATE_LABELS[state.value])
        if not allowed:
            raise IllegalTransitionError(
                "cannot {action} a task that is {state}; "
                "allowed from {state}: nothing (final state)",
                action=named_action,
                state=named_state,
            )
        raise IllegalTransitionError(
            "cannot {action} a task that is {state}; allowed from {state}: {allowed}",
            action=named_action,
            state=named_state,
            allowed=Phrases([Phrase(value, ACTION_LABELS[value]) for value in allowed]),
        )
    return target


def is_open(state: str) -> bool:
    """Return whether a task in `state` still needs someone to act."""
    return TaskState(state) in OPEN_STATES
