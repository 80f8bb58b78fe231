"""The fault run in the test suite: short by default, the 10,000-message run with --soak.

Both run on PostgreSQL (GRIDDISPATCH_TEST_DATABASE_URL) when it is set, and
on SQLite too.
"""

import os

import pytest

from tests.conftest import POSTGRES_URL_ENV
from tests.fault.harness import FaultConfig, FaultReport, run_fault
from tests.fault.report import report_lines


def _databases() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_URL_ENV) else ["sqlite"]


def _config(
    database: str, *, messages: int, rate: float, kills_each: int, quiet_timeout_s: float = 600.0
) -> FaultConfig:
    return FaultConfig(
        messages=messages,
        rate=rate,
        kills_each=kills_each,
        database=database,
        postgres_admin_url=os.environ.get(POSTGRES_URL_ENV, ""),
        quiet_timeout_s=quiet_timeout_s,
    )


def _assert_no_loss(report: FaultReport) -> None:
    print("\n".join(report_lines(report)))
    counts = report.counts
    assert report.unconfirmed == 0, report.to_json()
    assert counts.accepted == counts.directives_stored + counts.leads_stored, report.to_json()
    assert counts.notifications > 0, report.to_json()
    assert counts.steps_due > 0, report.to_json()
    assert counts.losses == [], report.to_json()
    assert all(kills >= 1 for kills in report.kills.values()), report.kills


@pytest.mark.parametrize("database", _databases())
async def test_short_fault_run_loses_nothing(database: str) -> None:
    report = await run_fault(_config(database, messages=500, rate=10.0, kills_each=1))
    _assert_no_loss(report)


@pytest.mark.soak
@pytest.mark.parametrize("database", _databases())
async def test_full_fault_run_loses_nothing(database: str) -> None:
    report = await run_fault(
        _config(database, messages=10_000, rate=50.0, kills_each=3, quiet_timeout_s=900.0)
    )
    _assert_no_loss(report)
