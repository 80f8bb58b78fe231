"""Judging a lab result against the limit tables and keeping it as evidence."""

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from griddispatch.messages import LeadSubjectRef, Priority
from storage.db import Database
from storage.labs.limits import BannedSubstance, LimitTables, ResidueLimit
from storage.labs.models import LabSample
from storage.leads.matching import match_subject
from storage.plans.grades import on_failed_sample, plans_in

log = logging.getLogger(__name__)

PASS = "pass"
EXCEEDS = "exceeds"
BANNED = "banned"
NO_LIMIT = "no_limit"
# Verdicts that raise a lead for the subject's inspector.
FINDINGS = frozenset({EXCEEDS, BANNED})


@dataclass(frozen=True)
class LabResult:
    """One analyte measured in one sample, as a lab reports it."""

    source: str
    sample_id: str
    lab: str
    method: str
    subject: LeadSubjectRef
    commodity: str
    analyte: str
    value: float
    unit: str
    value_mg_per_kg: float
    sampled_on: date


@dataclass(frozen=True)
class Assessment:
    """The verdict on a result and what it was judged against."""

    verdict: str
    limit: ResidueLimit | None
    ban: BannedSubstance | None
    # Measured value over the limit; None without a limit or when the limit is 0.
    ratio: float | None


def assess(tables: LimitTables, result: LabResult) -> Assessment:
    """Judge a result: a detected banned substance, a value over its limit, a pass, or no limit."""
    limit = tables.limit_for(result.commodity, result.analyte)
    ratio = None
    if limit is not None and limit.mrl_mg_per_kg > 0:
        ratio = result.value_mg_per_kg / limit.mrl_mg_per_kg
    ban = tables.ban_for(result.commodity, result.analyte, result.sampled_on)
    if ban is not None and result.value_mg_per_kg > 0:
        return Assessment(BANNED, limit, ban, ratio)
    if limit is None:
        return Assessment(NO_LIMIT, None, None, None)
    if result.value_mg_per_kg > limit.mrl_mg_per_kg:
        return Assessment(EXCEEDS, limit, None, ratio)
    return Assessment(PASS, limit, None, ratio)


@dataclass(frozen=True)
class Finding:
    """The lead a finding raises: its title, text and severity."""

    title: str
    text: str
    severity: Priority


def describe_finding(result: LabResult, assessment: Assessment) -> Finding:
    """Write the lead for an exceedance or a banned substance, with every figure it rests on."""
    lines = [
        f"样品编号：{result.sample_id}；检测机构：{result.lab}；检测方法：{result.method}",
        f"样品：{result.commodity}；检测项目：{result.analyte}；抽样日期：{result.sampled_on}",
        f"实测值：{result.value_mg_per_kg:g} mg/kg（报告值 {result.value:g} {result.unit}）",
    ]
    limit = assessment.limit
    if limit is not None:
        lines.append(_limit_line(limit, assessment.ratio))
    ban = assessment.ban
    if ban is not None:
        since = f"，自 {ban.banned_from} 起" if ban.banned_from else ""
        lines.append(f"禁用依据：{ban.notice}（范围：{ban.scope}{since}；{ban.row_source}）")
        title = (
            f"检出禁用物质：{result.commodity} {result.analyte} {result.value_mg_per_kg:g} mg/kg"
        )
        return Finding(title[:200], "\n".join(lines), Priority.URGENT)
    assert limit is not None
    title = (
        f"检测超标：{result.commodity} {result.analyte} {result.value_mg_per_kg:g} mg/kg"
        f"（限量 {limit.mrl_mg_per_kg:g}）"
    )
    return Finding(title[:200], "\n".join(lines), Priority.HIGH)


def _limit_line(limit: ResidueLimit, ratio: float | None) -> str:
    times = f"，为限量的 {ratio:.2f} 倍" if ratio is not None else "，不得检出"
    year = f"（{limit.standard_year} 年）" if limit.standard_year else ""
    line = (
        f"限量：{limit.mrl_mg_per_kg:g} mg/kg{times}；标准：{limit.standard}{year}；"
        f"可信度：{limit.confidence}（{limit.row_source}）"
    )
    if limit.note:
        line += f"；备注：{limit.note}"
    if limit.confidence != "high":
        line += "；该限量尚待与标准原文核对"
    return line


async def record_sample(
    db: Database,
    result: LabResult,
    assessment: Assessment,
    *,
    lead_message_id: str | None,
    now: datetime,
) -> tuple[LabSample, bool]:
    """Store a result with its verdict; return it and whether it is new.

    A result with the same (source, sample id, analyte) as one stored before
    is the same result re-sent: the stored one is returned unchanged.
    """
    key = (result.source, result.sample_id, result.analyte)
    try:
        async with db.transaction() as session:
            stored = await session.scalar(_by_key(*key))
            if stored is not None:
                return stored, False
            match = await match_subject(session, result.subject)
            limit = assessment.limit
            sample = LabSample(
                source=result.source,
                sample_id=result.sample_id,
                lab=result.lab,
                method=result.method,
                subject_ref=result.subject.model_dump(exclude_none=True),
                subject_id=match.subject.id if match.subject else None,
                commodity=result.commodity,
                analyte=result.analyte,
                value=result.value,
                unit=result.unit,
                value_mg_per_kg=result.value_mg_per_kg,
                verdict=assessment.verdict,
                limit_mg_per_kg=limit.mrl_mg_per_kg if limit else None,
                ratio=assessment.ratio,
                standard=limit.standard if limit else None,
                confidence=limit.confidence if limit else None,
                table_row=_table_row(assessment),
                lead_message_id=lead_message_id if assessment.verdict in FINDINGS else None,
                sampled_on=result.sampled_on,
                received_at=now,
            )
            session.add(sample)
            if assessment.verdict in FINDINGS and match.subject is not None:
                # TODO: uses the shipped plan grades; record_sample has no settings to name
                # another plan folder.
                await on_failed_sample(
                    session, match.subject, plans_in(None), sample=sample, now=now
                )
    except IntegrityError:
        async with db.reading() as session:
            stored = await session.scalar(_by_key(*key))
        if stored is None:
            raise
        return stored, False
    log.info(
        "lab sample recorded sample=%s source=%s verdict=%s subject=%s",
        sample.id,
        result.source,
        assessment.verdict,
        sample.subject_id,
    )
    return sample, True


def _by_key(source: str, sample_id: str, analyte: str) -> Select[LabSample]:
    return select(LabSample).where(
        LabSample.source == source, LabSample.sample_id == sample_id, LabSample.analyte == analyte
    )


def _table_row(assessment: Assessment) -> str | None:
    if assessment.ban is not None:
        return assessment.ban.row_source
    return assessment.limit.row_source if assessment.limit else None
