"""Plan figures and risk grades over HTTP."""

from datetime import date
from pathlib import Path

from storage.db import Database
from tests.api.support import Client
from tests.plans.support import (
    china,
    entries,
    import_small_registry_with_grades,
    inspect_task,
    plan_month,
)
from tests.storage.support import GRID, TOWNSHIP, small_registry_subjects

QUARTER = {"division": TOWNSHIP, "start": "2026-01-01T00:00:00", "end": "2026-04-01T00:00:00"}


async def test_plan_coverage_equals_stats(api: Client, db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    await plan_month(db, date(2026, 1, 1))
    first = next(e for e in await entries(db) if e.grid_code == GRID)
    assert first.task_id is not None and first.inspector_id is not None
    await inspect_task(db, first.task_id, first.inspector_id, now=china(date(2026, 1, 7)))

    plan = await api.get("/plans/coverage", params=QUARTER, token="reader")
    stats = await api.get("/stats", params=QUARTER, token="reader")

    assert plan.status == 200
    assert plan.data["due"] == len(await entries(db))
    assert plan.data["done"] == 1
    assert plan.data["coverage"] == stats.data["rates"]["coverage"]
    assert plan.data["coverage"]["numerator"] == 1


async def test_grade_set_and_history(api: Client, db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path)
    _, rows = small_registry_subjects()
    subject = rows[0][0] or rows[0][1]

    changed = await api.request(
        "PUT", f"/subjects/{subject}/grade", json={"grade": "A", "reason": "投诉较多"}
    )
    rejected = await api.request(
        "PUT", f"/subjects/{subject}/grade", json={"grade": "Z", "reason": "x"}
    )
    missing = await api.get("/subjects/NOSUCH/grades", token="reader")
    history = await api.get(f"/subjects/{subject}/grades", token="reader")

    assert changed.status == 200
    assert changed.data["changes"][-1]["new_grade"] == "A"
    assert changed.data["changes"][-1]["source"] == "hand"
    assert rejected.status == 422
    assert "'Z' is not defined" in rejected.body.decode()
    assert missing.status == 404
    assert history.data == changed.data
