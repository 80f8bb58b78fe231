"""The console's session cookie and CSRF check.

A browser signs in with a user name and password and gets a random session
cookie (HttpOnly, SameSite=Strict, Secure over HTTPS); the database keeps
only its SHA-256. Every request that changes something must also send the
session's CSRF token in the X-CSRF-Token header, which a page on another
site cannot read.
"""

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from dispatcher.api.context import context_of
from dispatcher.api.errors import ApiError
from storage.accounts.service import SignedIn, session_user

log = logging.getLogger(__name__)

COOKIE = "gd_console"
CSRF_HEADER = "X-CSRF-Token"
USER = web.RequestKey("griddispatch_console_user", SignedIn)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_https(request: web.Request) -> bool:
    """Return whether the browser reached the console over HTTPS, directly or through a proxy."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """Give the browser its session cookie."""
    response.set_cookie(
        COOKIE,
        token,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=is_https(request),
    )


def _check_csrf(request: web.Request, user: SignedIn) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), user.csrf_token.encode()):
        log.info("console csrf check failed user=%s path=%s", user.user_id, request.path)
        raise ApiError(
            403,
            "csrf_failed",
            "this request needs the session's CSRF token in the {header} header; "
            "reload the console and try again",
            header=CSRF_HEADER,
        )


async def current_user(request: web.Request) -> SignedIn:
    """Return the signed-in user of a request; raises 401 without a valid session."""
    token = request.cookies.get(COOKIE)
    context = context_of(request)
    user = await session_user(context.db, token, now=context.clock.now()) if token else None
    if user is None:
        raise ApiError(401, "not_signed_in", "sign in to the console first")
    return user


def signed_in(handler: Handler) -> Handler:
    """Wrap a handler so that it runs only for a signed-in user, with CSRF checked on changes."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        user = await current_user(request)
        if request.method not in _SAFE_METHODS:
            _check_csrf(request, user)
        request[USER] = user
        return await handler(request)

    return wrapped


def user_of(request: web.Request) -> SignedIn:
    """Return the user `signed_in` accepted for this request."""
    return request[USER]
