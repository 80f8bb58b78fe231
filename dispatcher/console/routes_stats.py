"""The three rates and per-inspector figures for charts, and their XLSX export."""

import io
import logging
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from dispatcher.api.context import context_of
from dispatcher.api.routes_stats import StatsQuery
from dispatcher.api.routing import validate
from dispatcher.console.session import signed_in, user_of
from griddispatch.i18n import gettext
from griddispatch.workcalendar import CHINA
from storage.accounts.scope import check_division
from storage.stats.service import AreaRates, InspectorFigures, area_rates, inspector_figures

log = logging.getLogger(__name__)

RATES = (
    ("registration", "Registration rate"),
    ("coverage", "Inspection coverage rate"),
    ("compliance", "Production compliance rate"),
)


def default_period(now: datetime) -> tuple[datetime, datetime]:
    """Return the current month in China time: its first day to the first of the next."""
    local = now.astimezone(CHINA)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


async def _figures(request: web.Request) -> tuple[AreaRates, list[InspectorFigures]]:
    context = context_of(request)
    query = dict(request.query)
    start, end = default_period(context.clock.now())
    query.setdefault("start", start.isoformat())
    query.setdefault("end", end.isoformat())
    if "division" not in query and user_of(request).county_code is not None:
        query["division"] = user_of(request).county_code or ""
    parsed = validate(StatsQuery, query)
    await check_division(context.db, parsed.division, user_of(request).county_code)
    rates = await area_rates(context.db, parsed.division, start=parsed.start, end=parsed.end)
    figures = await inspector_figures(
        context.db, parsed.division, start=parsed.start, end=parsed.end
    )
    return rates, figures


def _stats_json(rates: AreaRates, figures: list[InspectorFigures]) -> dict[str, Any]:
    return {
        "division": {"code": rates.area_code, "name": rates.area_name},
        "start": rates.start.isoformat(),
        "end": rates.end.isoformat(),
        "rates": {
            key: {
                "numerator": getattr(rates, key).numerator,
                "denominator": getattr(rates, key).denominator,
                "value": getattr(rates, key).value,
            }
            for key, _ in RATES
        },
        "inspectors": [
            {
                "code": figure.code,
                "name": figure.name,
                "inspections": figure.inspections,
                "subjects_covered": figure.subjects_covered,
                "failed_items": figure.failed_items,
            }
            for figure in figures
        ],
    }


@signed_in
async def stats(request: web.Request) -> web.StreamResponse:
    """Return the rates and per-inspector figures of a division and period."""
    rates, figures = await _figures(request)
    return web.json_response(_stats_json(rates, figures))


def _workbook(rates: AreaRates, figures: list[InspectorFigures], locale: str) -> bytes:
    # Imported here, as in storage.registry.files, so that only an export loads openpyxl.
    from openpyxl import Workbook  # noqa: PLC0415

    book = Workbook()
    sheet = book.active
    sheet.title = gettext("Statistics", locale)
    sheet.append([gettext("Division", locale), rates.area_name, rates.area_code])
    sheet.append([gettext("Period start", locale), rates.start.astimezone(CHINA).isoformat()])
    sheet.append([gettext("Period end", locale), rates.end.astimezone(CHINA).isoformat()])
    sheet.append([])
    sheet.append(
        [
            "",
            gettext("Numerator", locale),
            gettext("Denominator", locale),
            gettext("Value", locale),
        ]
    )
    for key, label in RATES:
        rate = getattr(rates, key)
        sheet.append([gettext(label, locale), rate.numerator, rate.denominator, rate.value])
    people = book.create_sheet(gettext("Inspectors", locale))
    people.append(
        [
            gettext("Inspector", locale),
            "",
            gettext("Inspections", locale),
            gettext("Subjects covered", locale),
            gettext("Failed items", locale),
        ]
    )
    for figure in figures:
        people.append(
            [
                figure.code,
                figure.name,
                figure.inspections,
                figure.subjects_covered,
                figure.failed_items,
            ]
        )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@signed_in
async def export_xlsx(request: web.Request) -> web.StreamResponse:
    """Return the same figures as an XLSX workbook."""
    rates, figures = await _figures(request)
    data = _workbook(rates, figures, user_of(request).language)
    name = f"stats-{rates.area_code}-{rates.start.astimezone(CHINA).date().isoformat()}.xlsx"
    log.info(
        "console stats exported division=%s user=%s", rates.area_code, user_of(request).user_id
    )
    return web.Response(
        body=data,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
