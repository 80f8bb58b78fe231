"""The console on the whole running loop, and a headless Chromium driven by Playwright.

Browser tests need Debian's chromium at /usr/bin/chromium (scripts/system-packages
installs it); they are skipped with that reason when it is absent.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright
from sqlalchemy import select

from dispatcher.api.service import ApiService
from dispatcher.console import add_console_routes
from griddispatch.settings import Settings
from storage.accounts.models import UserRole
from storage.accounts.service import create_user
from storage.registry.models import Division
from tests.harness.loop import Loop, running_loop

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-battery"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

HAS_CHROMIUM = CHROMIUM.is_file()
needs_chromium = pytest.mark.skipif(
    not HAS_CHROMIUM,
    reason="browser tests need Debian's chromium at /usr/bin/chromium; run scripts/system-packages",
)


@dataclass
class Console:
    """The loop, the API process serving the console, and two counties' codes."""

    loop: Loop
    api: ApiService
    url: str
    county: str
    other_county: str


async def _two_counties(loop: Loop) -> tuple[str, str]:
    async with loop.db.reading() as session:
        codes = list(
            await session.scalars(
                select(Division.code).where(Division.level == "county").order_by(Division.code)
            )
        )
    assert len(codes) >= 2, "the example registry should have at least two counties"
    return codes[0], codes[1]


@pytest.fixture
async def console(database_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    async with running_loop(database_url, tmp_path) as loop:
        api = ApiService(
            nats_url=loop.nats.url,
            db=loop.db,
            escalation=loop.escalation,
            clock=loop.clock,
            settings=Settings(data_dir=tmp_path),
            host="127.0.0.1",
            port=0,
            configure=[add_console_routes],
        )
        await api.start()
        try:
            county, other = await _two_counties(loop)
            now = loop.clock.now()
            await create_user(loop.db, "duty", PASSWORD, role=UserRole.COMMAND_CENTRE, now=now)
            await create_user(
                loop.db, "county", PASSWORD, role=UserRole.COUNTY, county_code=county, now=now
            )
            url = api.base_url.removesuffix("/api/v1")
            yield Console(loop, api, url, county, other)
        finally:
            await api.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAS_CHROMIUM:
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()
