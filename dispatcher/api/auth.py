"""Bearer token authentication and scope checks.

Each request to a route that declares scopes must carry
`Authorization: Bearer <token>` for an unrevoked token that has one of them.
Routes without scopes (health, metrics, the API documents) need no token.
A route added to the application without a `Route` declaration returns 500,
so that no route is left open by mistake.
"""

import logging

from aiohttp import web

from dispatcher.api.context import context_of
from dispatcher.api.errors import ApiError, Handler
from dispatcher.api.routing import ROUTE_TABLE, Route
from storage.api_tokens.models import ApiToken
from storage.api_tokens.service import COUNTY_SCOPE, verify_token

log = logging.getLogger(__name__)

TOKEN = web.RequestKey("griddispatch_api_token", ApiToken)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="griddispatch"'}


def bearer_token(request: web.Request) -> str:
    """Return the token of the Authorization header; raises 401 when it is missing or malformed."""
    header = request.headers.get("Authorization")
    if not header:
        raise ApiError(
            401,
            "missing_token",
            "this endpoint needs a token; send the header 'Authorization: Bearer <token>'",
            headers=_CHALLENGE,
        )
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(
            401,
            "invalid_token",
            "the Authorization header is malformed; write it as 'Bearer <token>'",
            headers=_CHALLENGE,
        )
    return value.strip()


async def authenticate(request: web.Request) -> ApiToken:
    """Return the token record a request carries; raises 401 for an unknown or revoked token."""
    context = context_of(request)
    record = await verify_token(
        context.db,
        bearer_token(request),
        now=context.clock.now(),
        cache=context.verified_tokens,
    )
    if record is None:
        raise ApiError(
            401,
            "invalid_token",
            "the token is unknown or revoked; create a new one with `griddispatch tokens create`",
            headers=_CHALLENGE,
        )
    return record


def check_scope(request: web.Request, route: Route, token: ApiToken) -> None:
    """Raise 403 unless the token has one of the scopes the route declares."""
    if any(token.has_scope(scope) for scope in route.scopes):
        return
    needed = " or ".join(sorted(scope.value for scope in route.scopes))
    raise ApiError(
        403,
        "insufficient_scope",
        "token {token!r} has scopes {scopes}; {method} {path} needs {needed}",
        token=token.name,
        scopes=", ".join(token.scopes),
        method=request.method,
        path=route.path,
        needed=needed,
    )


def token_of(request: web.Request) -> ApiToken:
    """Return the token the auth middleware accepted for this request."""
    if TOKEN not in request:
        raise RuntimeError(f"no authenticated token on {request.method} {request.path}")
    return request[TOKEN]


def county_of(request: web.Request) -> str | None:
    """Return the county a token is limited to by a `county:<code>` scope, or None."""
    for scope in token_of(request).scopes:
        if scope.startswith(COUNTY_SCOPE):
            return scope.removeprefix(COUNTY_SCOPE)
    return None


def require_all_counties(request: web.Request, reason: str) -> None:
    """Raise 403 when the token is limited to one county; `reason` explains why."""
    county = county_of(request)
    if county is not None:
        raise ApiError(
            403,
            "permission_denied",
            "this token is limited to county {county}, but {reason}; "
            "use a token without a county limit",
            county=county,
            reason=reason,
        )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate requests to routes that declare scopes, and check the scope."""
    if request.match_info.http_exception is not None:
        # No route matched: the handler raises 404 or 405, which needs no token.
        return await handler(request)
    table = request.app[ROUTE_TABLE]
    if table.is_foreign(request):
        # Routes that authenticate on their own, such as the console's session cookie.
        return await handler(request)
    route = table.declaration_for(request)
    if route is None:
        log.error("route has no declaration method=%s path=%s", request.method, request.path)
        raise ApiError(
            500,
            "route_not_declared",
            "this route was added without a declaration; add it through create_app(extra_routes=)",
        )
    if route.public:
        return await handler(request)
    token = await authenticate(request)
    check_scope(request, route, token)
    request[TOKEN] = token
    return await handler(request)
