"""Making nats-py's batched fetch time out the way FastStream expects.

FastStream's pull subscriber (0.7.8) calls `PullSubscription.fetch` in a
loop and suppresses `nats.errors.TimeoutError`, the error a fetch raises
when no message came in time. With a batch above 1, nats-py 2.16 raises a
bare `TimeoutError` instead when the server's "request timeout" reply to
an idle fetch arrives as the client's own deadline runs out. On an idle
consumer that race came up within seconds in `griddispatch up`. FastStream does not suppress
the bare error, so its supervisor logs it with a traceback and restarts
the consume task.

`convert_fetch_timeouts` wraps `fetch` once per process so that such a
timeout is raised as `nats.errors.TimeoutError`, which FastStream handles
as the ordinary "no messages" case. The wrapper changes only the type of
the error raised when a fetch returned nothing.
"""

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import nats.errors
from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)

_Fetch = Callable[..., Awaitable[list[Any]]]

_MARK = "_griddispatch_converts_timeouts"


def convert_fetch_timeouts() -> None:
    """Wrap `PullSubscription.fetch` so a bare timeout becomes nats' TimeoutError; once only."""
    subscription = JetStreamContext.PullSubscription
    if getattr(subscription.fetch, _MARK, False):
        return
    subscription.fetch = _converting(subscription.fetch)  # type: ignore[method-assign,assignment]
    log.debug("nats-py fetch wrapped to raise nats.errors.TimeoutError on a bare timeout")


def _converting(fetch: _Fetch) -> _Fetch:
    @wraps(fetch)
    async def converted(*args: Any, **kwargs: Any) -> list[Any]:
        try:
            return await fetch(*args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:
            raise nats.errors.TimeoutError from exc

    setattr(converted, _MARK, True)
    return converted
