"""HTTP shared by every stage: one session factory and one retry policy.

Retries: connection errors, timeouts, 5xx and 429 (honouring Retry-After), bounded, with
exponential backoff and jitter; never other 4xx. Sleeping goes through the policy's
`sleep`, so tests replace it and never sleep for real.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from . import __version__

USER_AGENT = f"k8s-windows-bundle/{__version__} (+python-requests/{requests.__version__})"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


def make_session() -> requests.Session:
    """A session with our User-Agent; TLS verification is never turned off."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.verify = True
    return session


@dataclass
class RetryPolicy:
    attempts: int = 5
    backoff: float = 1.0  # first delay, doubled each attempt
    max_delay: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)

    def backoff_delay(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based): exponential with full jitter on top."""
        base = min(self.max_delay, self.backoff * (2 ** (attempt - 1)))
        return base + self.rng.uniform(0, base / 2)

    def server_delay(self, response: requests.Response) -> float | None:
        """The wait the server asked for (Retry-After, or x-ratelimit-reset with none remaining)."""
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            if retry_after.strip().isdigit():
                return min(float(retry_after), self.max_delay * 15)
            when = email.utils.parsedate_to_datetime(retry_after)
            if when is not None:
                return max(0.0, min(when.timestamp() - self.clock(), self.max_delay * 15))
        if response.headers.get("x-ratelimit-remaining") == "0" and response.headers.get("x-ratelimit-reset"):
            reset = float(response.headers["x-ratelimit-reset"])
            return max(0.0, min(reset - self.clock() + 1, self.max_delay * 15))
        return None


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500
