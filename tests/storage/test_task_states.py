"""The task state machine: every legal transition, and the errors for all others."""

import itertools

import pytest

from griddispatch.errors import IllegalTransitionError
from storage.tasks.states import OPEN_STATES, TaskAction, TaskState, is_open, next_state

S = TaskState
A = TaskAction

# The table the product must implement, written out here independently of states.py.
LEGAL = {
    (S.NEW, A.ACKNOWLEDGE): S.ACKNOWLEDGED,
    (S.NEW, A.DECLINE): S.DECLINED,
    (S.NEW, A.CANCEL): S.CANCELLED,
    (S.NEW, A.REASSIGN): S.NEW,
    (S.ACKNOWLEDGED, A.SUBMIT): S.SUBMITTED,
    (S.ACKNOWLEDGED, A.DECLINE): S.DECLINED,
    (S.ACKNOWLEDGED, A.CANCEL): S.CANCELLED,
    (S.DECLINED, A.REASSIGN): S.NEW,
    (S.DECLINED, A.CANCEL): S.CANCELLED,
    (S.SUBMITTED, A.CLOSE): S.CLOSED,
    (S.SUBMITTED, A.CANCEL): S.CANCELLED,
}
ILLEGAL = [pair for pair in itertools.product(TaskState, TaskAction) if pair not in LEGAL]
FINAL_STATES = [S.CLOSED, S.CANCELLED]


def _allowed_from(state: TaskState) -> list[str]:
    return sorted(action.value for (source, action) in LEGAL if source is state)


@pytest.mark.parametrize(("state", "action"), list(LEGAL), ids=str)
def test_legal_transition(state: TaskState, action: TaskAction) -> None:
    assert next_state(state.value, action) is LEGAL[(state, action)]


@pytest.mark.parametrize(("state", "action"), ILLEGAL, ids=str)
def test_illegal_transition_raises(state: TaskState, action: TaskAction) -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        next_state(state.value, action)

    message = str(raised.value)
    assert f"cannot {action.value} " in message
    assert f"a task that is {state.value}" in message
    for allowed in _allowed_from(state):
        assert allowed in message


def test_illegal_transition_lists_allowed() -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        next_state("new", A.SUBMIT)

    assert str(raised.value).endswith("allowed from new: acknowledge, cancel, decline, reassign")


@pytest.mark.parametrize("state", FINAL_STATES, ids=str)
@pytest.mark.parametrize("action", list(TaskAction), ids=str)
def test_final_state_allows_nothing(state: TaskState, action: TaskAction) -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        next_state(state.value, action)

    assert "nothing (final state)" in str(raised.value)


@pytest.mark.parametrize("state", list(TaskState), ids=str)
def test_open_states(state: TaskState) -> None:
    expected = state in (S.NEW, S.ACKNOWLEDGED, S.DECLINED)

    assert is_open(state.value) is expected
    assert (state in OPEN_STATES) is expected
