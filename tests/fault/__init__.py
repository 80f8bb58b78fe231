"""Fault injection on the whole system: every component in its own process, killed and restarted.

`python -m tests.fault` runs the harness from the command line;
tests/fault/test_fault.py runs its short version in the normal suite.
"""
