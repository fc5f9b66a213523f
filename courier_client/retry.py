"""When to retry and how long to wait: 429/503 and connection errors, jittered exponential backoff that
never waits less than the server's Retry-After, and never more than `max_delay_s`."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """`max_retries` retries after the first try; backoff `base_delay_s · 2^attempt` with full jitter."""

    max_retries: int = 5
    base_delay_s: float = 0.1
    max_delay_s: float = 10.0
    statuses: frozenset[int] = RETRY_STATUSES
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def should_retry(self, attempt: int, response: httpx.Response | None) -> bool:
        """After try `attempt` (0-based) ended with `response`, or with a connection error (None)."""
        if attempt >= self.max_retries:
            return False
        return response is None or response.status_code in self.statuses

    def delay_s(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds before the next try: a random share of the backoff, but at least Retry-After."""
        backoff = self.rng.uniform(0, self.base_delay_s * 2**attempt)
        retry_after = _retry_after_s(response) if response is not None else None
        if retry_after is not None:
            backoff = retry_after + self.rng.uniform(0, min(1.0, retry_after) * 0.1)  # spread a herd a little
        return min(backoff, self.max_delay_s)


def _retry_after_s(response: httpx.Response) -> float | None:
    """Retry-After as seconds (it may be a number of seconds or an HTTP date)."""
    header = response.headers.get("retry-after")
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
