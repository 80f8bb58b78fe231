"""Loading escalation policy files: the shipped defaults and the errors of invalid files."""

from pathlib import Path

import pytest

from griddispatch.errors import ConfigurationError
from storage.escalation.policies import Action, Condition, load_policies
from storage.escalation.policy import DEFAULT_POLICY_FILE, Escalation

VALID_POLICY = """\
  - name: {name}
    kinds: {kinds}
    ack_within: {ack_within}
    due_within: 3 working days
    steps:
      - {{when: {when}, after: {after}, action: {action}}}
"""


def policy_text(
    name: str = "routine",
    *,
    kinds: str = "[]",
    ack_within: str = "4 working hours",
    when: str = "not_acknowledged",
    after: str = "0m",
    action: str = "remind_assignee",
) -> str:
    """Return one policy entry of a policy file, as YAML."""
    return VALID_POLICY.format(
        name=name, kinds=kinds, ack_within=ack_within, when=when, after=after, action=action
    )


def write(tmp_path: Path, *policies: str) -> Path:
    path = tmp_path / "escalation.yaml"
    path.write_text("policies:\n" + "".join(policies), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("kind", "priority", "expected"),
    [
        ("lead", "urgent", "food-safety-lead"),
        ("lead", "high", "food-safety-lead"),
        ("lead", "normal", "routine"),
        ("lead", "low", "routine"),
        ("directive", "urgent", "urgent-directive"),
        ("directive", "high", "urgent-directive"),
        ("directive", "normal", "routine"),
        ("directive", "low", "routine"),
        ("inspection", "urgent", "routine"),
    ],
)
def test_shipped_policy_chosen(kind: str, priority: str, expected: str) -> None:
    policies = load_policies(DEFAULT_POLICY_FILE)

    assert policies.for_task(kind, priority).name == expected


def test_shipped_policy_contents() -> None:
    policies = load_policies(DEFAULT_POLICY_FILE)
    food_safety = policies.for_task("lead", "urgent")
    actions = [step.action for step in food_safety.steps]
    conditions = {step.when for step in food_safety.steps}

    assert [policy.name for policy in policies.policies] == [
        "food-safety-lead",
        "urgent-directive",
        "routine",
    ]
    assert food_safety.ack_within == "30m"
    assert food_safety.due_within == "1 working day"
    assert food_safety.review_within == "4 working hours"
    assert Action.REASSIGN_TO_GRID_LEADER in actions
    assert Action.NOTIFY_COMMAND_CENTRE in actions
    assert conditions == set(Condition)
    assert policies.by_name("urgent-directive") is not None
    assert policies.by_name("retired") is None


def test_escalation_defaults_to_shipped_file() -> None:
    escalation = Escalation.load()

    assert escalation.policies.path == DEFAULT_POLICY_FILE
    assert escalation.policy_for("lead", "urgent").name == "food-safety-lead"
    assert escalation.policy_named("retired", "directive", "high").name == "urgent-directive"
    assert escalation.calendar.folder is None


def test_written_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        policy_text("leads-first", kinds="[lead]", ack_within="30m", after="1 working day"),
        policy_text("catch-all", action="notify_command_centre"),
    )

    policies = load_policies(path)

    assert policies.path == path
    assert policies.for_task("lead", "low").name == "leads-first"
    assert policies.for_task("directive", "low").name == "catch-all"
    assert policies.for_task("lead", "low").steps[0].delay.text == "1 working day"


@pytest.mark.parametrize(
    ("entry", "policy", "field", "problem"),
    [
        (policy_text("bad-ack", ack_within="soon"), "policy bad-ack", "field ack_within", "soon"),
        (
            policy_text("zero-ack", ack_within="0m"),
            "policy zero-ack",
            "field ack_within",
            "deadline '0m' must be longer than zero",
        ),
        (
            policy_text("half-day", ack_within="1.5 working days"),
            "policy half-day",
            "field ack_within",
            "whole number of working days",
        ),
        (
            policy_text("bad-after", after="later"),
            "policy bad-after",
            "field steps.0.after",
            "later",
        ),
        (
            policy_text("bad-when", when="not_closed"),
            "policy bad-when",
            "field steps.0.when",
            "not_acknowledged",
        ),
        (
            policy_text("bad-action", action="call_mayor"),
            "policy bad-action",
            "field steps.0.action",
            "remind_assignee",
        ),
        (
            "  - name: no-due\n    ack_within: 1h\n    steps: []\n",
            "policy no-due",
            "field due_within",
            "Field required",
        ),
        (
            policy_text("typo") + "    review_whithin: 2h\n",
            "policy typo",
            "field review_whithin",
            "Extra inputs are not permitted",
        ),
        (
            policy_text("bad-priority") + "    priorities: [critical]\n",
            "policy bad-priority",
            "field priorities.0",
            "urgent",
        ),
        (policy_text("Bad Name"), "policy Bad Name", "field name", "pattern"),
        (
            "  - ack_within: 1h\n    due_within: 1d\n    steps: []\n",
            "policy #1",
            "field name",
            "Field required",
        ),
    ],
)
def test_invalid_field_named(
    tmp_path: Path, entry: str, policy: str, field: str, problem: str
) -> None:
    path = write(tmp_path, entry)

    with pytest.raises(ConfigurationError) as raised:
        load_policies(path)

    message = str(raised.value)
    assert f"escalation policy file {path} is invalid" in message
    assert policy in message
    assert field in message
    assert problem in message


def test_second_policy_named(tmp_path: Path) -> None:
    path = write(tmp_path, policy_text("first"), policy_text("second", when="not_done"))

    with pytest.raises(ConfigurationError) as raised:
        load_policies(path)

    message = str(raised.value)
    assert str(path) in message
    assert "policy second, field steps.0.when" in message
    assert "policy first" not in message


def test_last_policy_with_kinds(tmp_path: Path) -> None:
    path = write(tmp_path, policy_text("routine"), policy_text("leads-only", kinds="[lead]"))

    with pytest.raises(ConfigurationError) as raised:
        load_policies(path)

    message = str(raised.value)
    assert str(path) in message
    assert "policy leads-only, the last one" in message
    assert "no kinds and no priorities" in message


def test_last_policy_with_priorities(tmp_path: Path) -> None:
    path = write(tmp_path, policy_text("urgent-only") + "    priorities: [urgent]\n")

    with pytest.raises(ConfigurationError) as raised:
        load_policies(path)

    message = str(raised.value)
    assert str(path) in message
    assert "policy urgent-only, the last one" in message
    assert "no kinds and no priorities" in message


def test_repeated_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        policy_text("routine", kinds="[lead]"),
        policy_text("urgent", kinds="[directive]"),
        policy_text("routine"),
    )

    with pytest.raises(ConfigurationError) as raised:
        load_policies(path)

    message = str(raised.value)
    assert str(path) in message
    assert "policy names repeat: routine" in message
    assert "urgent" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("policies: [unclosed\n", "cannot be read"),
        ("policies:\n  - name: a\n   bad: indent\n", "cannot be read"),
    ],
)
def test_not_yaml(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "escalation.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigurationError) as raised:
        load_policies(path)

    assert f"escalation policy file {path} {expected}" in str(raised.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "field file"),
        ("- name: routine\n", "field file"),
        ("policies: []\n", "field policies"),
        ("policies: {}\n", "field policies"),
    ],
)
def test_wrong_shape(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "escalation.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigurationError) as raised:
        load_policies(path)

    assert f"escalation policy file {path} is invalid" in str(raised.value)
    assert expected in str(raised.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(ConfigurationError) as raised:
        load_policies(path)

    assert f"escalation policy file {path} cannot be read" in str(raised.value)
