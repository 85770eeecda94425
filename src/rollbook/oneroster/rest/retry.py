"""When to ask again: 429 with Retry-After, 5xx, timeouts and dropped connections (tenacity).

:class:`RetryPolicy` is a small value object; :func:`retrying` turns it into a tenacity
``AsyncRetrying`` that retries :class:`Transient` failures with exponential backoff and
jitter, or waits what the server's ``Retry-After`` asked (up to ``max_wait``). Tests use a
policy with near-zero waits so that retries never make them slow.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import tenacity

#: HTTP statuses worth asking again: the server is busy or failed for a while.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's wish in seconds, if any."""

    def __init__(self, what: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(what)
        self.what = what
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before asking again.

    ``attempts`` counts the first try. Backoff is ``initial * 2**n`` seconds plus up to
    ``jitter`` seconds at random, never over ``max_wait``; a ``Retry-After`` is honoured up to
    ``max_wait`` as well.
    """

    attempts: int = 6
    initial: float = 0.5
    max_wait: float = 60.0
    jitter: float = 0.5

    @classmethod
    def fast(cls, attempts: int = 4) -> RetryPolicy:
        """Near-zero waits, for tests."""
        return cls(attempts=attempts, initial=0.001, max_wait=0.005, jitter=0.001)

    def wait_seconds(self, state: tenacity.RetryCallState) -> float:
        """Retry-After when the server gave one, else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return max(0.0, min(exc.retry_after, self.max_wait))
        backoff = self.initial * 2 ** (state.attempt_number - 1)
        return min(self.max_wait, backoff + random.uniform(0, self.jitter))


def retrying(
    policy: RetryPolicy, on_retry: Callable[[Transient, float], None] | None = None
) -> tenacity.AsyncRetrying:
    """An ``AsyncRetrying`` for ``policy``: retries :class:`Transient`, re-raises the last."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            if isinstance(exc, Transient):
                on_retry(exc, state.upcoming_sleep)

    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(max(1, policy.attempts)),
        wait=policy.wait_seconds,
        retry=tenacity.retry_if_exception_type(Transient),
        before_sleep=before_sleep,
        reraise=True,
    )


async def call(
    policy: RetryPolicy,
    attempt: Callable[[], Awaitable],
    on_retry: Callable[[Transient, float], None] | None = None,
):
    """Run ``attempt`` until it returns or fails with something not :class:`Transient`."""
    async for round_ in retrying(policy, on_retry):
        with round_:
            return await attempt()
    raise AssertionError("unreachable: tenacity re-raises the last failure")


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header: seconds, or an HTTP date; ``None`` when unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
