"""Hook authentication: an API token with scope `hook`, as a bearer token or as a signature.

A signed request carries `X-GD-Timestamp: <unix seconds>` and
`X-GD-Signature: sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<body>`
under the HMAC secret of an API token. A signature is valid for
`signature_max_age_s` either side of the server's clock and is accepted
once: the replay cache in the database remembers it for that long.

`authenticate` only reads. `accept_signature` stores the signature, and a
hook calls it after it has validated the body, so a rejected request writes
nothing.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from dispatcher.api.errors import ApiError
from dispatcher.hooks.context import HookContext
from dispatcher.hooks.signing import (
    SIGNATURE_HEADER,
    SIGNATURE_SCHEME,
    TIMESTAMP_HEADER,
    signature_matches,
)
from griddispatch.i18n import mark
from storage.api_tokens.models import ApiScope, ApiToken
from storage.api_tokens.service import list_tokens, verify_token
from storage.hooks.service import forget_signature, remember_signature, signature_seen

log = logging.getLogger(__name__)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="griddispatch hooks"'}


@dataclass(frozen=True)
class Caller:
    """The token a hook request was authenticated with, and its signature if it was signed."""

    token: ApiToken
    signature: str | None = None
    signature_expires_at: datetime | None = None


async def authenticate(
    request: web.Request, context: HookContext, body: bytes, *, routing_key: str | None = None
) -> Caller:
    """Return the caller of a hook request, or raise 401, 403 or 409 saying what is wrong.

    `routing_key` is a token sent in the body, as senders of PagerDuty events
    do; it counts only when the request has no other credentials.
    """
    has_bearer = "Authorization" in request.headers
    signed = SIGNATURE_HEADER in request.headers or TIMESTAMP_HEADER in request.headers
    if not has_bearer and not signed and not routing_key:
        raise ApiError(
            401,
            "missing_credentials",
            "this hook needs 'Authorization: Bearer <token>' or a body signed with "
            "{timestamp_header} and {signature_header}",
            headers=_CHALLENGE,
            timestamp_header=TIMESTAMP_HEADER,
            signature_header=SIGNATURE_HEADER,
        )
    token = None
    if has_bearer:
        token = await _bearer_token(request, context)
    elif not signed and routing_key:
        token = await _known_token(context, routing_key, "routing_key")
    if signed:
        return await _signed_caller(request, context, body, token)
    assert token is not None
    _require_hook_scope(token)
    return Caller(token)


async def _bearer_token(request: web.Request, context: HookContext) -> ApiToken:
    scheme, _, value = request.headers["Authorization"].partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(
            401,
            "invalid_token",
            "the Authorization header is malformed; write it as 'Bearer <token>'",
            headers=_CHALLENGE,
        )
    return await _known_token(context, value.strip(), mark("bearer token"))


async def _known_token(context: HookContext, plaintext: str, carrier: str) -> ApiToken:
    token = await verify_token(
        context.db, plaintext, now=context.clock.now(), cache=context.verified_tokens
    )
    if token is None:
        raise ApiError(
            401,
            "invalid_token",
            "the {carrier} is unknown or revoked; create a token with scope 'hook' "
            "with `griddispatch tokens create`",
            headers=_CHALLENGE,
            carrier=carrier,
        )
    return token


def _require_hook_scope(token: ApiToken) -> None:
    if token.has_scope(ApiScope.HOOK):
        return
    raise ApiError(
        403,
        "insufficient_scope",
        "token {token!r} has scopes {scopes}; hooks need scope 'hook'",
        token=token.name,
        scopes=", ".join(token.scopes),
    )


def _timestamp(request: web.Request, context: HookContext) -> tuple[str, datetime]:
    text = request.headers.get(TIMESTAMP_HEADER, "").strip()
    if not text.isascii() or not text.isdigit():
        raise ApiError(
            401,
            "invalid_signature",
            "header {header} must be the signing time in whole Unix seconds, got {text!r}",
            headers=_CHALLENGE,
            header=TIMESTAMP_HEADER,
            text=text,
        )
    max_age = timedelta(seconds=context.settings.signature_max_age_s)
    try:
        signed_at = datetime.fromtimestamp(int(text), tz=UTC)
    except (OverflowError, ValueError, OSError):
        raise ApiError(
            401,
            "invalid_signature",
            "header {header} {text!r} is not a possible time",
            headers=_CHALLENGE,
            header=TIMESTAMP_HEADER,
            text=text,
        ) from None
    skew = context.clock.now() - signed_at
    if abs(skew) > max_age:
        raise ApiError(
            401,
            "signature_expired",
            "the signature was made {skew_s:.0f} s from the server's time, more than the "
            "{max_age_s:.0f} s allowed; sign the request again now and check the sender's clock",
            headers=_CHALLENGE,
            skew_s=skew.total_seconds(),
            max_age_s=max_age.total_seconds(),
        )
    return text, signed_at + max_age


async def _signed_caller(
    request: web.Request, context: HookContext, body: bytes, bearer: ApiToken | None
) -> Caller:
    timestamp, expires_at = _timestamp(request, context)
    received = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not received.startswith(SIGNATURE_SCHEME):
        raise ApiError(
            401,
            "invalid_signature",
            "header {header} must read 'sha256=<hex digest>'",
            headers=_CHALLENGE,
            header=SIGNATURE_HEADER,
        )
    candidates = [bearer] if bearer else await list_tokens(context.db)
    token = next(
        (
            candidate
            for candidate in candidates
            if not candidate.revoked
            and candidate.hmac_secret
            and signature_matches(candidate.hmac_secret, timestamp, body, received)
        ),
        None,
    )
    if token is None:
        raise ApiError(
            401,
            "invalid_signature",
            "the signature matches no token's HMAC secret; sign '<timestamp>.<body>' with "
            "HMAC-SHA256 and the exact bytes sent",
            headers=_CHALLENGE,
        )
    _require_hook_scope(token)
    digest = received.removeprefix(SIGNATURE_SCHEME)
    if await signature_seen(context.db, digest):
        raise _replayed()
    return Caller(token, digest, expires_at)


def _replayed() -> ApiError:
    return ApiError(
        409,
        "signature_replayed",
        "this signature was accepted before; a request is taken once, so sign a new one "
        "to send again",
    )


async def accept_signature(context: HookContext, caller: Caller) -> None:
    """Store the caller's signature in the replay cache; raise 409 if another request won."""
    if caller.signature is None or caller.signature_expires_at is None:
        return
    stored = await remember_signature(
        context.db,
        caller.signature,
        now=context.clock.now(),
        expires_at=caller.signature_expires_at,
    )
    if not stored:
        raise _replayed()


async def release_signature(context: HookContext, caller: Caller) -> None:
    """Forget the caller's signature after the request failed, so it may be sent again."""
    if caller.signature is not None:
        await forget_signature(context.db, caller.signature)
