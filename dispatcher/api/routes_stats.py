"""The three rates of an area and period, and per-inspector figures."""

from datetime import datetime
from typing import Annotated, TypeVar

from aiohttp import web
from pydantic import AfterValidator, Field

from dispatcher.api.auth import county_of
from dispatcher.api.context import context_of
from dispatcher.api.routing import (
    PREFIX,
    READERS,
    Code,
    RequestModel,
    ResponseModel,
    Route,
    json_response,
    parse_query,
)
from griddispatch.workcalendar import CHINA
from storage.accounts.scope import check_division
from storage.stats.service import AreaRates, InspectorFigures, Rate, area_rates, inspector_figures

# Periods outside these years are typing errors, and converting them to UTC can overflow.
EARLIEST_YEAR = 2000
LATEST_YEAR = 2200

REGISTRATION = (
    "Registration rate (主体登记备案率). Numerator: subjects of the area marked registered. "
    "Denominator: all subjects of the area known to the registry, registered or not. "
    "Counted at the time of the request; the period does not apply."
)
COVERAGE = (
    "Inspection coverage rate (监管检查覆盖率). Numerator: registered subjects of the area "
    "with at least one inspection result submitted in [start, end). Denominator: registered "
    "subjects of the area."
)
COMPLIANCE = (
    "Production compliance rate (企业生产合规率). Numerator: results submitted in [start, end) "
    "for subjects of the area in which no checklist item failed. Denominator: all results "
    "submitted in [start, end) for subjects of the area."
)


def _in_china_time(moment: datetime) -> datetime:
    """Read a time without offset as China Standard Time, and check its year."""
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValueError(f"year {moment.year} is outside {EARLIEST_YEAR}-{LATEST_YEAR}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA)


PeriodBound = Annotated[datetime, AfterValidator(_in_china_time)]


class AreaPeriodQuery(RequestModel):
    """An area and a period, the query of every route that counts an area's work."""

    division: Code = Field(description="Division code: the area is every grid at or below it.")
    start: PeriodBound = Field(
        description="Start of the period, included. ISO 8601; without offset, China time."
    )
    end: PeriodBound = Field(
        description="End of the period, excluded. ISO 8601; without offset, China time."
    )


class StatsQuery(AreaPeriodQuery):
    """The area and the period."""


A = TypeVar("A", bound=AreaPeriodQuery)


async def parse_area_query(request: web.Request, model: type[A]) -> A:
    """Validate the query string; raises 404 for a division outside the token's county."""
    query = parse_query(request, model)
    await check_division(context_of(request).db, query.division, county_of(request))
    return query


class RateOut(ResponseModel):
    """A ratio with the counts behind it."""

    numerator: int
    denominator: int
    value: float | None = Field(description="numerator / denominator; null when it is 0.")


class Rates(ResponseModel):
    """The three rates the command centre is judged by."""

    registration: RateOut = Field(description=REGISTRATION)
    coverage: RateOut = Field(description=COVERAGE)
    compliance: RateOut = Field(description=COMPLIANCE)


class InspectorFiguresOut(ResponseModel):
    """The work of one inspector of the area in the period."""

    code: str
    name: str
    inspections: int = Field(description="Results the inspector submitted in [start, end).")
    subjects_covered: int = Field(description="Distinct subjects of those results.")
    failed_items: int = Field(description="Checklist items marked 'fail' in those results.")


class AreaOut(ResponseModel):
    """The area the figures are for."""

    code: str
    name: str


class StatsOut(ResponseModel):
    """The rates of an area and period, and the figures of each of its inspectors."""

    division: AreaOut
    start: datetime
    end: datetime
    rates: Rates
    inspectors: list[InspectorFiguresOut] = Field(
        description="Every inspector whose division is a grid of the area, by staff code."
    )


def rate_out(rate: Rate) -> RateOut:
    """Convert a stored rate to its response form."""
    return RateOut(numerator=rate.numerator, denominator=rate.denominator, value=rate.value)


def _stats_out(rates: AreaRates, figures: list[InspectorFigures]) -> StatsOut:
    return StatsOut(
        division=AreaOut(code=rates.area_code, name=rates.area_name),
        start=rates.start,
        end=rates.end,
        rates=Rates(
            registration=rate_out(rates.registration),
            coverage=rate_out(rates.coverage),
            compliance=rate_out(rates.compliance),
        ),
        inspectors=[
            InspectorFiguresOut(
                code=figure.code,
                name=figure.name,
                inspections=figure.inspections,
                subjects_covered=figure.subjects_covered,
                failed_items=figure.failed_items,
            )
            for figure in figures
        ],
    )


async def stats(request: web.Request) -> web.StreamResponse:
    """Compute the three rates and the per-inspector figures of an area and period."""
    query = await parse_area_query(request, StatsQuery)
    db = context_of(request).db
    rates = await area_rates(db, query.division, start=query.start, end=query.end)
    figures = await inspector_figures(db, query.division, start=query.start, end=query.end)
    return json_response(_stats_out(rates, figures))


ROUTES = [
    Route(
        "GET",
        PREFIX + "/stats",
        stats,
        operation_id="showStats",
        summary="The three rates and per-inspector figures of an area and period",
        tag="stats",
        scopes=READERS,
        query=StatsQuery,
        response=StatsOut,
        errors=(404, 422),
        description="\n\n".join(
            [
                "A rate whose denominator is 0 has value null, not 0.",
                REGISTRATION,
                COVERAGE,
                COMPLIANCE,
                "404 for an unknown division; 422 when start is not before end.",
            ]
        ),
    ),
]
