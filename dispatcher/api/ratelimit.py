"""Request rate limits per API token: a token bucket each, kept in this process.

A token's bucket holds up to `burst` requests and refills at `rate_per_s`.
A request that finds the bucket empty gets 429 with Retry-After and is not
processed; requests accepted before it are not affected.
"""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from dispatcher.api.auth import TOKEN
from dispatcher.api.errors import ApiError, Handler
from storage.api_tokens.models import ApiToken

log = logging.getLogger(__name__)

# NOTE: buckets live in one process. Several API processes behind a load balancer
# each allow a token its full rate.


@dataclass
class _Bucket:
    level: float
    updated_at: float


class TokenBuckets:
    """One token bucket per API token id."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._buckets: dict[int, _Bucket] = {}

    def take(self, token: ApiToken) -> float:
        """Take one request from the token's bucket.

        Returns 0 when the request may go ahead, else the seconds until the
        bucket contains a request again.
        """
        now = self._monotonic()
        bucket = self._buckets.get(token.id)
        if bucket is None:
            bucket = _Bucket(level=float(token.burst), updated_at=now)
            self._buckets[token.id] = bucket
        refill = (now - bucket.updated_at) * token.rate_per_s
        bucket.level = min(float(token.burst), bucket.level + refill)
        bucket.updated_at = now
        if bucket.level >= 1.0:
            bucket.level -= 1.0
            return 0.0
        return (1.0 - bucket.level) / token.rate_per_s


BUCKETS = web.AppKey("griddispatch_api_token_buckets", TokenBuckets)


def rate_limited(token: ApiToken, wait_s: float) -> ApiError:
    """Build the 429 error with Retry-After in whole seconds, rounded up."""
    retry_after = max(1, math.ceil(wait_s))
    return ApiError(
        429,
        "rate_limited",
        "token {token!r} is limited to {rate:g} requests a second with bursts of {burst}; "
        "retry after {retry_after} s",
        headers={"Retry-After": str(retry_after)},
        token=token.name,
        rate=token.rate_per_s,
        burst=token.burst,
        retry_after=retry_after,
    )


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reject a request of a token whose bucket is empty; requests without a token pass."""
    token = request.get(TOKEN)
    if token is not None:
        wait_s = request.app[BUCKETS].take(token)
        if wait_s > 0:
            log.debug("request rate limited token=%s wait_s=%.2f", token.id, wait_s)
            raise rate_limited(token, wait_s)
    return await handler(request)
