"""A failed lab sample raises the subject's risk grade; a passed one does not."""

from datetime import date
from pathlib import Path

from griddispatch.messages import LeadSubjectRef
from storage.db import Database
from storage.labs.service import Assessment, LabResult, record_sample
from storage.plans.grades import grade_history
from tests.plans.support import china, import_small_registry_with_grades, subjects_by_id


def _result(subject_ref: LeadSubjectRef, sample_id: str) -> LabResult:
    return LabResult(
        source="lab-test",
        sample_id=sample_id,
        lab="检测中心",
        method="GB 23200.113",
        subject=subject_ref,
        commodity="菠菜",
        analyte="毒死蜱",
        value=0.5,
        unit="mg/kg",
        value_mg_per_kg=0.5,
        sampled_on=date(2026, 1, 10),
    )


async def test_failed_sample_raises_grade(db: Database, tmp_path: Path) -> None:
    await import_small_registry_with_grades(db, tmp_path, {0: "C"})
    subject = next(s for s in (await subjects_by_id(db)).values() if s.risk_grade == "C")
    ref = LeadSubjectRef(credit_code=subject.credit_code, other_id=subject.other_id)

    await record_sample(
        db,
        _result(ref, "S-pass"),
        Assessment("pass", None, None, None),
        lead_message_id=None,
        now=china(date(2026, 1, 12)),
    )
    await record_sample(
        db,
        _result(ref, "S-fail"),
        Assessment("exceeds", None, None, 25.0),
        lead_message_id="lead-lab-1",
        now=china(date(2026, 1, 12)),
    )

    history = await grade_history(db, subject.credit_code or subject.other_id or "")
    assert [(h.old_grade, h.new_grade, h.source) for h in history] == [
        (None, "C", "import"),
        ("C", "B", "lab"),
    ]
    assert "S-fail" in history[-1].reason
    assert (await subjects_by_id(db))[subject.id].risk_grade == "B"
