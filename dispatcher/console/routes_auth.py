"""Signing in and out, the user's language, the page itself and its static files."""

import html
import logging
import math
from pathlib import Path

from aiohttp import web
from pydantic import Field

from dispatcher.api.context import context_of
from dispatcher.api.errors import ApiError
from dispatcher.api.routing import RequestModel, parse_body
from dispatcher.console.session import (
    COOKIE,
    set_session_cookie,
    signed_in,
    user_of,
)
from dispatcher.console.texts import LOCALES, TITLE, catalog, labels, pick_locale
from griddispatch.i18n import gettext
from storage.accounts.service import (
    SignedIn,
    SignInLockedError,
    check_credentials,
    close_session,
    open_session,
    session_user,
    set_language,
)

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


class LoginRequest(RequestModel):
    """A user name and password."""

    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=200)


class LanguageRequest(RequestModel):
    """The language the console should speak."""

    language: str = Field(min_length=2, max_length=16)


def _me(user: SignedIn) -> dict[str, object]:
    return {
        "username": user.username,
        "role": user.role.value,
        "county": user.county_code,
        "language": user.language,
        "csrf_token": user.csrf_token,
    }


async def login(request: web.Request) -> web.StreamResponse:
    """Check a user name and password and open a session."""
    context = context_of(request)
    body = await parse_body(request, LoginRequest)
    now = context.clock.now()
    try:
        user = await check_credentials(context.db, body.username, body.password, now=now)
    except SignInLockedError as exc:
        log.info("console sign-in rejected: account locked until=%s", exc.until.isoformat())
        wait_s = max(1, math.ceil((exc.until - now).total_seconds()))
        raise ApiError.from_error(
            exc, 429, "sign_in_locked", headers={"Retry-After": str(wait_s)}
        ) from None
    if user is None:
        log.info("console sign-in rejected: unknown user name or wrong password")
        raise ApiError(401, "bad_credentials", "the user name or password is wrong")
    token = await open_session(context.db, user, now=context.clock.now())
    signed = await session_user(context.db, token, now=context.clock.now())
    if signed is None:
        raise RuntimeError(f"the session opened for user {user.id} cannot be read back")
    response = web.json_response(_me(signed))
    set_session_cookie(request, response, token)
    log.info("console sign-in user=%s", user.id)
    return response


@signed_in
async def logout(request: web.Request) -> web.StreamResponse:
    """Close the session and drop the cookie."""
    token = request.cookies.get(COOKIE, "")
    await close_session(context_of(request).db, token)
    response = web.json_response({"signed_out": True})
    response.del_cookie(COOKIE, path="/console")
    log.info("console sign-out user=%s", user_of(request).user_id)
    return response


@signed_in
async def me(request: web.Request) -> web.StreamResponse:
    """Return who is signed in, with the CSRF token the page sends on changes."""
    return web.json_response(_me(user_of(request)))


@signed_in
async def change_language(request: web.Request) -> web.StreamResponse:
    """Remember the language the user chose."""
    body = await parse_body(request, LanguageRequest)
    if body.language not in LOCALES:
        raise ApiError(
            422,
            "unknown_language",
            "language {language!r} is not offered; choose one of {locales}",
            field="language",
            language=body.language,
            locales=", ".join(LOCALES),
        )
    await set_language(context_of(request).db, user_of(request).user_id, body.language)
    return web.json_response({"language": body.language})


async def i18n_catalog(request: web.Request) -> web.StreamResponse:
    """Return the console's strings in the requested language (lang=zh_CN or en)."""
    locale = pick_locale(request.query.get("lang"))
    return web.json_response(
        {"locale": locale, "messages": catalog(locale), "labels": labels(locale)}
    )


async def index(request: web.Request) -> web.StreamResponse:
    """Serve the page, its title and language set on the server."""
    locale = pick_locale(request.query.get("lang"))
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{lang}}", "zh-CN" if locale == "zh_CN" else "en")
    page = page.replace("{{title}}", html.escape(gettext(TITLE, locale)))
    return web.Response(
        text=page,
        content_type="text/html",
        headers={
            "Content-Security-Policy": (
                "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


async def redirect_to_index(request: web.Request) -> web.StreamResponse:
    """Send /console to /console/."""
    raise web.HTTPFound("/console/")
