"""Creating, verifying and revoking API tokens.

A token is shown once, when it is created, and the database keeps only its
SHA-256. A token has 256 random bits, so an unsalted hash is enough, because
that space is too large to search for a token that matches a stolen hash.
"""

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from griddispatch.errors import NotFoundError, ValidationError
from storage.api_tokens.cache import VerifiedTokens
from storage.api_tokens.models import ApiScope, ApiToken
from storage.db import Database

log = logging.getLogger(__name__)

TOKEN_PREFIX = "gdt_"
TOKEN_BYTES = 32
SHOWN_PREFIX_CHARS = 12
HMAC_SECRET_BYTES = 32
DEFAULT_RATE_PER_S = 10.0
DEFAULT_BURST = 20
MAX_RATE_PER_S = 10_000.0
MAX_BURST = 100_000
# last_used_at is written at most this often per token in each process, so reads do not
# turn into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_NAME = re.compile(r"[A-Za-z0-9._-]{1,32}")
# A scope "county:<code>" limits what the token reads and changes to one county.
COUNTY_SCOPE = "county:"


def hash_token(plaintext: str) -> str:
    """Return the hex SHA-256 of a token, as the database stores it."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValidationError(
            "token name {name!r} is invalid; use 1-32 letters, digits, '.', '_' or '-'", name=name
        )


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    known = {scope.value for scope in ApiScope}
    chosen = sorted(set(scopes))
    if not chosen:
        raise ValidationError(
            "a token needs at least one scope: {scopes}", scopes=", ".join(sorted(known))
        )
    unknown = [
        scope for scope in chosen if scope not in known and not scope.startswith(COUNTY_SCOPE)
    ]
    if unknown:
        raise ValidationError(
            "unknown scope {scope!r}; choose from {scopes}, "
            "or {county_scope}<county code> to limit the token to one county",
            scope=unknown[0],
            scopes=", ".join(sorted(known)),
            county_scope=COUNTY_SCOPE,
        )
    return chosen


def _check_limits(rate_per_s: float, burst: int) -> None:
    if not 0 < rate_per_s <= MAX_RATE_PER_S:
        raise ValidationError(
            "rate {rate} requests a second is invalid; "
            "expected more than 0 and at most {max_rate:g}",
            rate=rate_per_s,
            max_rate=MAX_RATE_PER_S,
        )
    if not 1 <= burst <= MAX_BURST:
        raise ValidationError(
            "burst {burst} is invalid; expected 1 to {max_burst}", burst=burst, max_burst=MAX_BURST
        )


async def create_token(
    db: Database,
    name: str,
    scopes: Iterable[str],
    *,
    rate_per_s: float = DEFAULT_RATE_PER_S,
    burst: int = DEFAULT_BURST,
    with_hmac_secret: bool = False,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Store a new token and return its record with the token itself, which is not kept.

    Raises ValidationError for an invalid or already used name, an unknown
    scope, or a rate or burst out of range.
    """
    _check_name(name)
    chosen = _check_scopes(scopes)
    _check_limits(rate_per_s, burst)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    record = ApiToken(
        name=name,
        token_hash=hash_token(plaintext),
        token_prefix=plaintext[:SHOWN_PREFIX_CHARS],
        scopes=chosen,
        rate_per_s=rate_per_s,
        burst=burst,
        hmac_secret=secrets.token_hex(HMAC_SECRET_BYTES) if with_hmac_secret else None,
        created_at=now or datetime.now(UTC),
        revoked=False,
    )
    try:
        async with db.transaction() as session:
            session.add(record)
    except IntegrityError:
        raise ValidationError(
            "token name {name!r} is already used; pick another name", name=name
        ) from None
    log.info("api token created token=%s name=%s scopes=%s", record.id, name, ",".join(chosen))
    return record, plaintext


async def verify_token(
    db: Database,
    plaintext: str,
    *,
    now: datetime | None = None,
    cache: VerifiedTokens | None = None,
) -> ApiToken | None:
    """Return the unrevoked token record that `plaintext` is, or None.

    With `cache`, a token verified within the cache's TTL is taken from it
    without a database read, so a revocation made since is not seen until the
    entry expires. Unknown and revoked tokens are always read and never cached.
    Writes last_used_at, on cache hits too, once the record's value is
    LAST_USED_RESOLUTION old. Each process checks its own copy of the record.
    """
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(plaintext)

    record = cache.get(digest) if cache is not None else None
    if record is None:
        record = await _read_verified(db, digest)
        if record is None:
            return None
        if cache is not None:
            cache.put(digest, record)

    moment = now or datetime.now(UTC)
    if record.last_used_at is None or moment - record.last_used_at >= LAST_USED_RESOLUTION:
        await _touch(db, record.id, moment)
        record.last_used_at = moment
    return record


async def _read_verified(db: Database, digest: str) -> ApiToken | None:
    async with db.reading() as session:
        record = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if record is None or record.revoked:
        return None
    return record


async def _touch(db: Database, token_id: int, moment: datetime) -> None:
    async with db.transaction() as session:
        record = await session.get(ApiToken, token_id)
        if record is not None:
            record.last_used_at = moment


async def revoke_token(db: Database, name: str, *, now: datetime | None = None) -> ApiToken:
    """Revoke a token by name; it fails every request from then on.

    An API process that verified the token shortly before keeps accepting it
    until its cache entry expires, which takes up to GRIDDISPATCH_TOKEN_CACHE_S.

    Raises NotFoundError for an unknown name. Revoking twice keeps the first time.
    """
    async with db.transaction() as session:
        record = await session.scalar(select(ApiToken).where(ApiToken.name == name))
        if record is None:
            raise NotFoundError("token {name!r} not found; check the name", name=name)
        if not record.revoked:
            record.revoked = True
            record.revoked_at = now or datetime.now(UTC)
    log.info("api token revoked token=%s name=%s", record.id, name)
    return record


async def list_tokens(db: Database) -> list[ApiToken]:
    """Return every token record, by name."""
    async with db.reading() as session:
        return list(await session.scalars(select(ApiToken).order_by(ApiToken.name)))
