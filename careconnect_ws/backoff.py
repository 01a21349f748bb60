"""How long to wait before trying again: one rule for every retry in the runtime.

Modelled on psycopg_pool's ``ConnectionAttempt``: a named initial delay, a growth factor, a ceiling and a
jitter. The database reconnect, the identity provider's key set, ``@connections`` throttling and the
reference client's reconnect each state their numbers once, as a Backoff.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass


class Jitter(enum.Enum):
    """How a delay is spread, so that clients or containers that failed together retry apart."""

    NONE = (1.0, 1.0)
    """Exactly the delay: for a single caller whose timing nobody shares (a rate limit of its own)."""
    EQUAL = (0.5, 1.0)
    """Between half the delay and the delay: spread, yet never much sooner than asked."""
    FULL = (0.0, 1.0)
    """Anywhere from 0 to the delay (AWS's "full jitter"): the widest spread, for many clients at once."""


@dataclass(frozen=True)
class Backoff:
    """The wait before retry ``n`` (1 for the first) is ``initial * factor ** (n - 1)``, at most ``ceiling``,
    scaled by a draw of ``jitter``."""

    initial: float
    """The first wait, in seconds."""
    ceiling: float
    """No wait is longer, in seconds."""
    factor: float = 2.0
    """Each wait is this many times the previous one."""
    jitter: Jitter = Jitter.FULL

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.ceiling or self.factor < 1:
            raise ValueError(f"a backoff needs 0 < initial <= ceiling and factor >= 1, not {self}")

    def delay(self, attempt: int, *, draw: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry ``attempt`` (1-based; anything below 1 counts as 1)."""
        exponent = min(max(attempt, 1) - 1, 64)  # past 64 doublings every ceiling is reached: no overflow
        capped = min(self.ceiling, self.initial * self.factor**exponent)
        low, high = self.jitter.value
        return capped * (low + (high - low) * draw())
