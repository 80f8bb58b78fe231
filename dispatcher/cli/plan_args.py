"""Arguments of the `grade` and `plan` subcommands, kept apart so parsing loads no storage code."""

import argparse


def add_plan_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the `grade` and `plan` subcommands."""
    grade = commands.add_parser("grade", help="risk grades (风险分级) of subjects")
    grade_actions = grade.add_subparsers(dest="action", required=True)
    set_grade = grade_actions.add_parser("set", help="set a subject's risk grade by hand")
    set_grade.add_argument("subject", help="subject credit code or other id")
    set_grade.add_argument("grade", help="a grade code of the plan, e.g. A")
    set_grade.add_argument("--reason", required=True, help="why the grade changes, for the trail")
    set_grade.add_argument("--by", default="cli", help="who changes it, for the trail")
    history = grade_actions.add_parser("history", help="a subject's grade changes")
    history.add_argument("subject", help="subject credit code or other id")

    plan = commands.add_parser("plan", help="routine inspection plans (日常巡查计划)")
    plan_actions = plan.add_subparsers(dest="action", required=True)
    plan_actions.add_parser("run", help="run the daily plan job now")
    coverage = plan_actions.add_parser(
        "coverage", help="due, done, overdue and coverage of an area"
    )
    coverage.add_argument("division", help="division code")
    coverage.add_argument("--start", required=True, help="first day, YYYY-MM-DD (China time)")
    coverage.add_argument("--end", required=True, help="day after the last, YYYY-MM-DD")
    handover = plan_actions.add_parser(
        "handover", help="move every subject and open routine task of a leaving inspector"
    )
    handover.add_argument("from_code", help="staff code of the inspector who leaves")
    handover.add_argument("to_code", help="staff code of the inspector who takes over")
