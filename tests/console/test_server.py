"""The console's server side over HTTP: sign-in, CSRF, the JSON routes and county scoping."""

import aiohttp
import pytest
from sqlalchemy import select

from griddispatch import subjects
from griddispatch.clock import ManualClock
from storage.accounts.service import MAX_FAILED_SIGN_INS, SIGN_IN_LOCKOUT
from storage.api_tokens.service import create_token
from storage.registry.models import Inspector
from tests.console.conftest import PASSWORD, Console
from tests.harness.loop import wait_for


def _client() -> aiohttp.ClientSession:
    # The console runs on 127.0.0.1, whose cookies aiohttp keeps only with unsafe=True.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _sign_in(http: aiohttp.ClientSession, url: str, user: str) -> str:
    async with http.post(
        f"{url}/console/api/login", json={"username": user, "password": PASSWORD}
    ) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
        assert "HttpOnly" in response.headers["Set-Cookie"]
        assert "SameSite=Strict" in response.headers["Set-Cookie"]
        return str(body["csrf_token"])


async def _grid_of(console: Console, county: str) -> str:
    async with console.loop.db.reading() as session:
        code = await session.scalar(
            select(Inspector.division_code)
            .where(Inspector.division_code.like(f"{county[:6]}%"), Inspector.role == "inspector")
            .order_by(Inspector.division_code)
        )
    assert code is not None
    return code


async def test_wrong_password_is_refused(console: Console) -> None:
    async with _client() as http:
        async with http.post(
            f"{console.url}/console/api/login", json={"username": "duty", "password": "nope"}
        ) as response:
            assert response.status == 401
        async with http.get(f"{console.url}/console/api/tasks") as response:
            assert response.status == 401


async def _login(http: aiohttp.ClientSession, url: str, password: str) -> aiohttp.ClientResponse:
    async with http.post(
        f"{url}/console/api/login", json={"username": "duty", "password": password}
    ) as response:
        await response.read()
        return response


async def test_wrong_passwords_lock_account(console: Console) -> None:
    async with _client() as http:
        wrong = [await _login(http, console.url, "nope") for _ in range(MAX_FAILED_SIGN_INS)]
        locked = await _login(http, console.url, PASSWORD)

        assert [response.status for response in wrong] == [401] * MAX_FAILED_SIGN_INS
        assert locked.status == 429
        assert int(locked.headers["Retry-After"]) == SIGN_IN_LOCKOUT.total_seconds()
        async with http.post(
            f"{console.url}/console/api/login", json={"username": "duty", "password": PASSWORD}
        ) as response:
            error = (await response.json())["error"]
        async with http.post(
            f"{console.url}/console/api/login",
            json={"username": "duty", "password": PASSWORD},
            headers={"Accept-Language": "en"},
        ) as response:
            english = (await response.json())["error"]
        assert error["code"] == "sign_in_locked"
        assert "'duty'" in error["message"]
        assert "15 分钟" in error["message"]
        assert "try again in 15 min" in english["message"]


async def test_lock_ends_after_lockout(console: Console) -> None:
    async with _client() as http:
        for _ in range(MAX_FAILED_SIGN_INS):
            await _login(http, console.url, "nope")
        assert isinstance(console.loop.clock, ManualClock)
        console.loop.clock.advance(SIGN_IN_LOCKOUT)

        response = await _login(http, console.url, PASSWORD)

    assert response.status == 200


async def test_sign_in_resets_wrong_count(console: Console) -> None:
    statuses = []
    async with _client() as http:
        for _ in range(2):
            for _ in range(MAX_FAILED_SIGN_INS - 1):
                await _login(http, console.url, "nope")
            statuses.append((await _login(http, console.url, PASSWORD)).status)

    assert statuses == [200, 200]


async def test_change_without_csrf_token_is_refused(console: Console) -> None:
    async with _client() as http:
        csrf = await _sign_in(http, console.url, "duty")
        body = {"target": {"kind": "grid", "code": "x"}, "title": "t"}
        async with http.post(f"{console.url}/console/api/directives", json=body) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "csrf_failed"
        async with http.post(
            f"{console.url}/console/api/logout", headers={"X-CSRF-Token": csrf}
        ) as response:
            assert response.status == 200
        async with http.get(f"{console.url}/console/api/me") as response:
            assert response.status == 401


async def test_county_user_sees_only_their_county(console: Console) -> None:
    loop = console.loop
    mine, theirs = (
        await _grid_of(console, console.county),
        await _grid_of(console, console.other_county),
    )
    for code in (mine, theirs):
        message_id = f"directive-{code}"
        await loop.publish(
            subjects.DIRECTIVE_ISSUE,
            {"message_id": message_id, "target": {"kind": "grid", "code": code}, "title": code},
            msg_id=message_id,
        )
        await loop.tasks_of_directive(message_id, 1)
    async with _client() as http:
        await _sign_in(http, console.url, "county")
        async with http.get(f"{console.url}/console/api/tasks?limit=200") as response:
            listed = await response.json()
        titles = {item["title"] for item in listed["items"]}
        assert titles == {mine}
        other_task = await _first_task_of(console, f"directive-{theirs}")
        async with http.get(f"{console.url}/console/api/tasks/{other_task}") as response:
            assert response.status == 404
        async with http.get(
            f"{console.url}/console/api/stats?division={console.other_county}"
        ) as response:
            assert response.status == 404
        async with http.get(f"{console.url}/console/api/map") as response:
            drawn = await response.json()
        assert drawn["division"] == console.county
        assert all(area["code"].startswith(console.county[:6]) for area in drawn["areas"])


async def _first_task_of(console: Console, message_id: str) -> int:
    tasks = await console.loop.tasks_of_directive(message_id, 1)
    return tasks[0].id


async def test_county_token_sees_only_its_county_through_the_api(console: Console) -> None:
    loop = console.loop
    mine, theirs = (
        await _grid_of(console, console.county),
        await _grid_of(console, console.other_county),
    )
    for code in (mine, theirs):
        await loop.publish(
            subjects.DIRECTIVE_ISSUE,
            {"message_id": f"api-{code}", "target": {"kind": "grid", "code": code}, "title": code},
            msg_id=f"api-{code}",
        )
        await loop.tasks_of_directive(f"api-{code}", 1)
    _, token = await create_token(
        loop.db, "county-reader", ["read_only", f"county:{console.county}"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    api = console.api.base_url
    other_task = await _first_task_of(console, f"api-{theirs}")
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{api}/tasks?limit=200") as response:
            assert {item["title"] for item in (await response.json())["items"]} == {mine}
        async with http.get(f"{api}/tasks/{other_task}") as response:
            assert response.status == 404
        async with http.get(f"{api}/directives") as response:
            assert [d["message_id"] for d in (await response.json())["items"]] == [f"api-{mine}"]
        async with http.get(f"{api}/directives/api-{theirs}") as response:
            assert response.status == 404
        query = f"division={console.other_county}&start=2026-01-01&end=2026-04-01"
        async with http.get(f"{api}/stats?{query}") as response:
            assert response.status == 404


async def test_county_token_sees_only_its_county_registry(console: Console) -> None:
    loop = console.loop
    _, token = await create_token(
        loop.db, "county-centre", ["command_centre", f"county:{console.county}"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    api = console.api.base_url
    async with loop.db.reading() as session:
        outsider = await session.scalar(
            select(Inspector.code).where(
                Inspector.division_code.like(f"{console.other_county[:6]}%")
            )
        )
    county_prefix = console.county[:6]
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{api}/divisions") as response:
            codes = [item["code"] for item in (await response.json())["items"]]
        async with http.get(f"{api}/inspectors?limit=200") as response:
            inspectors = (await response.json())["items"]
        async with http.get(f"{api}/subjects?limit=200") as response:
            subject_grids = [item["grid_code"] for item in (await response.json())["items"]]
        async with http.get(f"{api}/subjects?division={console.other_county}") as response:
            other_subjects_status = response.status
        async with http.post(f"{api}/inspectors/{outsider}/invites") as response:
            invite_status = response.status
        async with http.post(f"{api}/registry/import", data=aiohttp.FormData()) as response:
            import_status = response.status

    assert codes
    assert all(code.startswith(county_prefix) for code in codes)
    assert inspectors
    assert all(item["division_code"].startswith(county_prefix) for item in inspectors)
    assert subject_grids
    assert all(grid.startswith(county_prefix) for grid in subject_grids)
    assert other_subjects_status == 404
    assert invite_status == 404
    assert import_status == 403


async def test_events_reach_the_stream(console: Console) -> None:
    loop = console.loop
    grid = await _grid_of(console, console.county)
    async with _client() as http:
        await _sign_in(http, console.url, "duty")
        async with http.get(f"{console.url}/console/api/events") as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            await stream.content.readline()
            await loop.publish(
                subjects.DIRECTIVE_ISSUE,
                {"message_id": "sse", "target": {"kind": "grid", "code": grid}, "title": "sse"},
                msg_id="sse",
            )

            async def task_event() -> str | None:
                line = (await stream.content.readline()).decode()
                return line if line.startswith("event: task") else None

            assert await wait_for(task_event, "a task event on the stream")


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_i18n_catalog_is_served(console: Console, lang: str) -> None:
    url = f"{console.url}/console/i18n.json?lang={lang}"
    async with _client() as http, http.get(url) as response:
        body = await response.json()
    assert body["locale"] == lang
    expected = "任务看板" if lang == "zh_CN" else "Task board"
    assert body["messages"]["Task board"] == expected


async def test_lead_in_triage_is_routed_by_hand(console: Console) -> None:
    loop = console.loop
    lead = {"message_id": "lead-nowhere", "source": "opinion", "title": "舆情：无法定位的线索"}
    await loop.publish(subjects.lead_subject("opinion"), lead, msg_id="lead-nowhere")
    grid = await _grid_of(console, console.county)
    async with _client() as http:
        csrf = await _sign_in(http, console.url, "duty")

        async def queued() -> list[dict[str, object]] | None:
            async with http.get(f"{console.url}/console/api/triage") as response:
                leads = await response.json()
            return leads or None

        waiting = await wait_for(queued, "the lead in the triage queue")
        assert [item["title"] for item in waiting] == [lead["title"]]
        url = f"{console.url}/console/api/triage/{waiting[0]['id']}/route"
        async with http.post(url, json={"grid": grid}, headers={"X-CSRF-Token": csrf}) as response:
            assert response.status == 201, await response.text()
            task_id = (await response.json())["task_id"]
        async with http.post(url, json={"grid": grid}, headers={"X-CSRF-Token": csrf}) as response:
            assert response.status == 422
        async with http.get(f"{console.url}/console/api/triage") as response:
            assert await response.json() == []
        async with http.get(f"{console.url}/console/api/tasks/{task_id}") as response:
            task = await response.json()
    assert task["routing"] == "manual"
    assert task["kind"] == "lead"
    created = task["trail"][0]
    assert created["kind"] == "created"
    assert created["detail"]["route"] == {"by": "console:duty", "inspector": None, "grid": grid}


async def test_county_user_cannot_route_triage(console: Console) -> None:
    async with _client() as http:
        await _sign_in(http, console.url, "county")
        async with http.get(f"{console.url}/console/api/triage") as response:
            assert response.status == 403
