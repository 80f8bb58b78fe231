"""Routine inspection plans (日常巡查计划): risk grades, plan entries, coverage and warnings."""
