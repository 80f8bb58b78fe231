"""Deadlines and escalation steps of open tasks."""
