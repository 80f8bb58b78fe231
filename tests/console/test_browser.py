"""The console in headless Chromium: sign in, issue, watch the board live, open a task, scope."""

from typing import Any

import pytest
from sqlalchemy import select

from storage.registry.models import Division, Inspector
from storage.registry.queries import grid_inspectors
from storage.results.models import InspectionResult
from tests.console.conftest import PASSWORD, SCREENSHOTS, Console, needs_chromium
from tests.e2e.test_submission import (
    NORTH_400_M,
    _acknowledged_lead,
    _answer_checklist,
    _planting_subject,
    _send_evidence,
)
from tests.harness.loop import wait_for

pytestmark = needs_chromium

TIMEOUT_MS = 20_000


async def _page(browser: Any, console: Console, user: str) -> Any:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{console.url}/console/")
    await page.fill("#login-form input[name=username]", user)
    await page.fill("#login-form input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#board-rows", state="attached")
    return page


async def _grid_with_inspectors(console: Console) -> tuple[Division, list[Inspector]]:
    async with console.loop.db.reading() as session:
        grids = await session.scalars(
            select(Division)
            .where(Division.level == "grid", Division.code.like(f"{console.county}%"))
            .order_by(Division.code)
        )
        for grid in grids:
            inspectors = await grid_inspectors(session, grid.code)
            if len(inspectors) >= 2:
                return grid, inspectors
    raise AssertionError(f"county {console.county} has no grid with two inspectors")


async def test_directive_appears_live_and_is_acknowledged(console: Console, browser: Any) -> None:
    loop = console.loop
    grid, inspectors = await _grid_with_inspectors(console)
    users = {inspector.id: await loop.bind(inspector) for inspector in inspectors}
    title = "开展春季农药经营门店专项检查"
    page = await _page(browser, console, "duty")

    await page.goto(f"{console.url}/console/#/directives")
    form = "#directive-form"
    await page.select_option(f"{form} select[name=target_kind]", "grid")
    await page.fill(f"{form} input[name=target_code]", grid.code)
    await page.fill(f"{form} input[name=title]", title)
    await page.fill(f"{form} textarea[name=body]", "请于本周内完成检查")
    await page.select_option(f"{form} select[name=priority]", "high")
    await page.fill(f"{form} input[name=ack_within]", "30m")
    await page.click(f"{form} button[type=submit]")
    await page.wait_for_selector("#directive-notice.notice")

    await page.click("nav a[data-nav=board]")
    await page.wait_for_selector("#live[data-state=on]")
    await page.evaluate("window.notReloaded = true")
    rows = page.locator("#board-rows tr", has_text=title)
    await rows.nth(len(inspectors) - 1).wait_for()
    assert await rows.count() == len(inspectors)

    first = inspectors[0]
    card = await loop.chats.receives(users[first.id], title)
    await loop.control.tap(users[first.id], card.message_id, button_text="签收")
    acknowledged = page.locator("#board-rows tr[data-state=acknowledged]", has_text=first.name)
    await acknowledged.wait_for()

    assert await page.evaluate("window.notReloaded") is True
    assert await page.locator("#board-events li").count() > 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "board.png"))


async def _submitted_task_with_photos(console: Console) -> int:
    loop = console.loop
    subject, inspector = await _planting_subject(loop)
    user = await loop.bind(inspector)
    card = await _acknowledged_lead(loop, subject, user)
    await loop.control.tap(user, card.message_id, button_text="提交结果")
    await _answer_checklist(loop, user, items=12)
    await _send_evidence(loop, user, subject, NORTH_400_M)
    summary = await loop.chats.receives(user, "请核对")
    await loop.control.tap(user, summary.message_id, button_text="提交")
    await loop.chats.receives(user, "检查回执")

    async def stored() -> int | None:
        async with loop.db.reading() as session:
            return await session.scalar(select(InspectionResult.task_id))

    return await wait_for(stored, "the submitted result")


async def test_task_page_shows_photos_answers_and_receipt(console: Console, browser: Any) -> None:
    task_id = await _submitted_task_with_photos(console)
    page = await _page(browser, console, "duty")

    await page.goto(f"{console.url}/console/#/task/{task_id}")
    await page.wait_for_selector("#task-photos img")
    images = page.locator("#task-photos img")
    assert await images.count() == 2
    for index in range(2):
        await images.nth(index).evaluate(
            "image => image.complete || new Promise(done => image.onload = done)"
        )
        assert await images.nth(index).evaluate("image => image.naturalWidth") > 0
    assert await page.locator("#task-answers tr").count() == 12
    assert await page.locator("#task-trail tbody tr").count() >= 3
    assert await page.locator("#task-location circle").count() == 2
    receipt = await page.get_attribute("#task-receipt", "href")
    assert receipt is not None
    response = await page.request.get(f"{console.url}{receipt}")
    assert response.headers["content-type"] == "application/pdf"
    assert (await response.body()).startswith(b"%PDF")
    await page.screenshot(path=str(SCREENSHOTS / "task.png"), full_page=True)

    await page.goto(f"{console.url}/console/#/map")
    await page.wait_for_selector("#map-holder[data-loaded] svg path.area.grid")
    await page.select_option("#map-division", console.county)
    await page.wait_for_selector(f"#map-holder[data-loaded='{console.county}'] svg")
    assert await page.locator("#map-svg path.area.county").count() == 1
    assert await page.locator("#map-subjects circle.noncompliant").count() >= 1
    assert await page.locator("#map-inspectors rect").count() >= 1
    # Near the grid's corner, clear of the markers drawn inside it.
    await page.locator("svg path.area.grid.open").first.click(position={"x": 2, "y": 2})
    await page.wait_for_selector("#grid-tasks li")
    await page.screenshot(path=str(SCREENSHOTS / "map.png"))

    await page.goto(f"{console.url}/console/#/stats")
    await page.fill("#stats-form input[name=start]", "2026-03-01")
    await page.fill("#stats-form input[name=end]", "2026-04-01")
    await page.click("#stats-form button[type=submit]")
    await page.wait_for_selector("#chart-rates rect.bar[data-rate=compliance]", state="attached")
    await page.locator(".toggle-numbers").first.click()
    compliance = page.locator("#numbers-rates tbody tr").nth(2).locator("td")
    # One result, with a failed item: 0 compliant of 1.
    assert await compliance.nth(1).inner_text() == "0"
    assert await compliance.nth(2).inner_text() == "1"
    assert await page.locator("#chart-inspectors rect.bar").count() >= 1
    await page.screenshot(path=str(SCREENSHOTS / "charts.png"), full_page=True)
    async with page.expect_download() as download_info:
        await page.click("#stats-export")
    download = await download_info.value
    assert download.suggested_filename.endswith(".xlsx")


async def test_county_user_cannot_see_other_county(console: Console, browser: Any) -> None:
    loop = console.loop
    codes = {}
    for county in (console.county, console.other_county):
        async with loop.db.reading() as session:
            grid = await session.scalar(
                select(Inspector.division_code)
                .where(Inspector.division_code.like(f"{county}%"), Inspector.role == "inspector")
                .order_by(Inspector.division_code)
            )
        assert grid is not None
        message_id = f"county-{county}"
        codes[county] = message_id
        await loop.publish(
            "gd.directive.issue",
            {
                "message_id": message_id,
                "target": {"kind": "grid", "code": grid},
                "title": message_id,
            },
            msg_id=message_id,
        )
        await loop.tasks_of_directive(message_id, 1)
    other_task = (await loop.tasks_of_directive(codes[console.other_county], 1))[0].id

    page = await _page(browser, console, "county")
    await page.locator("#board-rows tr").first.wait_for()
    titles = await page.locator("#board-rows tr td:nth-child(2)").all_inner_texts()
    assert set(titles) == {codes[console.county]}
    await page.goto(f"{console.url}/console/#/task/{other_task}")
    await page.wait_for_selector("#main .error")
    response = await page.request.get(f"{console.url}/console/api/tasks/{other_task}")
    assert response.status == 404
    response = await page.request.get(
        f"{console.url}/console/api/tasks?division={console.other_county}"
    )
    assert (await response.json())["total"] == 0


@pytest.mark.parametrize("language", ["en"])
async def test_console_switches_to_english(console: Console, browser: Any, language: str) -> None:
    page = await _page(browser, console, "duty")
    assert await page.locator("nav a[data-nav=board]").inner_text() == "任务看板"
    await page.select_option("#language", language)
    await page.locator("nav a[data-nav=board]", has_text="Task board").wait_for()
    await page.locator("#board-filters button", has_text="Apply").wait_for()
