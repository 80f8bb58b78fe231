"""A per-process cache of verified API tokens, so that most requests skip the database read.

The cache keeps only tokens that passed verification. An unknown or revoked
token is read from the database on every request, so a new token works at once
and a rejection is never served from the cache. The price is that a revoked
token keeps working in a process that cached it for up to the TTL. A TTL of 0
turns the cache off, as in kube-apiserver's
`--authentication-token-webhook-cache-ttl`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from griddispatch.clock import Clock
from storage.api_tokens.models import ApiToken

# An estimate: a deployment has a few dozen tokens, so only tokens created in bulk
# reach this bound. Past it, the entry cached first is dropped.
DEFAULT_MAX_ENTRIES = 1024


@dataclass
class _Entry:
    record: ApiToken
    expires_at: datetime


class VerifiedTokens:
    """Verified token records by the SHA-256 of the token, each kept for at most `ttl`.

    The records are shared by the requests that hit them, so a change to
    `last_used_at` made for one request is seen by the next.
    """

    def __init__(
        self, ttl: timedelta, clock: Clock, *, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if ttl < timedelta(0):
            raise ValueError(f"token cache TTL {ttl} is negative; pass 0 or more")
        if max_entries < 1:
            raise ValueError(f"token cache size {max_entries} is invalid; pass 1 or more")
        self._ttl = ttl
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, _Entry] = {}

    @property
    def enabled(self) -> bool:
        """Whether the cache keeps records, which it does unless the TTL is 0."""
        return self._ttl > timedelta(0)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_hash: str) -> ApiToken | None:
        """Return the record cached for `token_hash`, or None when it is missing or expired."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None

        if self._clock.now() >= entry.expires_at:
            del self._entries[token_hash]
            return None

        return entry.record

    def put(self, token_hash: str, record: ApiToken) -> None:
        """Cache a verified, unrevoked record for the TTL from now, unless the TTL is 0."""
        if not self.enabled:
            return
        if record.revoked:
            raise ValueError(f"token {record.name!r} is revoked; only verified tokens are cached")

        # Taking the key out first puts the new entry last, in the order of eviction.
        self._entries.pop(token_hash, None)
        self._entries[token_hash] = _Entry(record, self._clock.now() + self._ttl)

        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]
