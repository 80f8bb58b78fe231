"""Routine inspection plans: an area's plan figures, and subjects' risk grades."""

from datetime import datetime
from typing import Annotated

from aiohttp import web
from pydantic import Field

from dispatcher.api.auth import county_of
from dispatcher.api.context import context_of
from dispatcher.api.routes_stats import (
    COVERAGE,
    AreaPeriodQuery,
    RateOut,
    parse_area_query,
    rate_out,
)
from dispatcher.api.routing import (
    COMMAND_CENTRE,
    PREFIX,
    READERS,
    RequestModel,
    ResponseModel,
    Route,
    code_param,
    json_response,
    parse_body,
    path_text,
)
from griddispatch.errors import NotFoundError
from griddispatch.i18n import mark
from storage.accounts.scope import check_division
from storage.plans.coverage import PlanFigures, area_figures
from storage.plans.grades import change_grade_by_hand, grade_history, plans_in
from storage.plans.models import GradeChange
from storage.registry.queries import subject_by_identifier

PLAN_FIGURES = (
    "Due, done and overdue count plan entries (one subject's inspection in one plan period) "
    "whose period lies inside [start, end). Overdue entries are open past their due time. "
    "projected is the share done at the window's end if the pace so far holds."
)


class PlanQuery(AreaPeriodQuery):
    """The area and the window."""


class PlanFiguresOut(ResponseModel):
    """Plan figures of an area for a window."""

    division: str
    start: datetime
    end: datetime
    due: int
    done: int
    overdue: int
    projected: float | None = Field(
        description="Projected share done at the end; null if none due."
    )
    coverage: RateOut = Field(description=COVERAGE)


class GradeIn(RequestModel):
    """A grade set by hand."""

    grade: Annotated[str, Field(min_length=1, max_length=16)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    changed_by: Annotated[str, Field(min_length=1, max_length=60)] = "api"


class GradeChangeOut(ResponseModel):
    """One change of a subject's risk grade."""

    old_grade: str | None
    new_grade: str
    source: str = Field(description="hand, import, result, lab or clean_run")
    actor: str
    reason: str
    changed_at: datetime


class GradeHistoryOut(ResponseModel):
    """A subject's grade changes, oldest first."""

    changes: list[GradeChangeOut]


def _figures_out(figures: PlanFigures) -> PlanFiguresOut:
    return PlanFiguresOut(
        division=figures.scope,
        start=figures.start,
        end=figures.end,
        due=figures.progress.due,
        done=figures.progress.done,
        overdue=figures.progress.overdue,
        projected=figures.progress.projected,
        coverage=rate_out(figures.coverage),
    )


def _change_out(change: GradeChange) -> GradeChangeOut:
    return GradeChangeOut(
        old_grade=change.old_grade,
        new_grade=change.new_grade,
        source=change.source,
        actor=change.actor,
        reason=change.reason,
        changed_at=change.changed_at,
    )


async def plan_coverage(request: web.Request) -> web.StreamResponse:
    """Return the plan figures of an area for a window."""
    query = await parse_area_query(request, PlanQuery)
    context = context_of(request)
    figures = await area_figures(
        context.db, query.division, start=query.start, end=query.end, now=context.clock.now()
    )
    return json_response(_figures_out(figures))


async def _check_subject(request: web.Request, identifier: str) -> None:
    db = context_of(request).db
    async with db.reading() as session:
        subject = await subject_by_identifier(session, identifier)
    if subject is None:
        raise NotFoundError(
            "subject {identifier!r} not found; give its credit code or other id",
            identifier=identifier,
        )
    await check_division(db, subject.grid_code, county_of(request))


async def set_grade(request: web.Request) -> web.StreamResponse:
    """Set a subject's risk grade by hand."""
    identifier = path_text(request, "subject", mark("subject"))
    body = await parse_body(request, GradeIn)
    await _check_subject(request, identifier)
    context = context_of(request)
    await change_grade_by_hand(
        context.db,
        plans_in(context.settings.plan_dir),
        subject_identifier=identifier,
        grade=body.grade,
        actor=body.changed_by,
        reason=body.reason,
        now=context.clock.now(),
    )
    changes = await grade_history(context.db, identifier)
    return json_response(GradeHistoryOut(changes=[_change_out(c) for c in changes]))


async def show_grades(request: web.Request) -> web.StreamResponse:
    """Return a subject's grade changes."""
    identifier = path_text(request, "subject", mark("subject"))
    await _check_subject(request, identifier)
    changes = await grade_history(context_of(request).db, identifier)
    return json_response(GradeHistoryOut(changes=[_change_out(c) for c in changes]))


SUBJECT = code_param("subject", "Credit code or other id of the subject.")

ROUTES = [
    Route(
        "GET",
        PREFIX + "/plans/coverage",
        plan_coverage,
        operation_id="showPlanCoverage",
        summary="Due, done, overdue, projected and coverage of an area's routine plan",
        tag="plans",
        scopes=READERS,
        query=PlanQuery,
        response=PlanFiguresOut,
        errors=(404, 422),
        description="\n\n".join([PLAN_FIGURES, COVERAGE]),
    ),
    Route(
        "PUT",
        PREFIX + "/subjects/{subject}/grade",
        set_grade,
        operation_id="setSubjectGrade",
        summary="Set a subject's risk grade (风险分级) by hand",
        tag="plans",
        scopes=COMMAND_CENTRE,
        body=GradeIn,
        path_params=(SUBJECT,),
        response=GradeHistoryOut,
        errors=(404, 422),
        description=(
            "Records the change in the grade trail and returns the whole trail. The grade "
            "applies from the next plan period. 422 for a grade the plan does not define."
        ),
    ),
    Route(
        "GET",
        PREFIX + "/subjects/{subject}/grades",
        show_grades,
        operation_id="showSubjectGrades",
        summary="A subject's risk grade changes, oldest first",
        tag="plans",
        scopes=READERS,
        path_params=(SUBJECT,),
        response=GradeHistoryOut,
        errors=(404,),
    ),
]
