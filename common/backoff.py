"""The one retry-delay formula: exponential growth from `base`, capped at
`cap`, with jitter so that many clients failing together do not retry together."""
from __future__ import annotations

import random

_rng = random.Random()


def backoff_delay(attempt: int, base: float, cap: float, *, jitter: float = 0.5, floor: float = 0.0,
                  rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempt` (0 for the first retry).

    The ceiling is min(cap, base * 2**attempt); the delay is drawn uniformly
    from [(1 - jitter) * ceiling, ceiling], so jitter 1 is "full jitter" and 0
    none; it is never below `floor`."""
    ceiling = min(cap, base * (2 ** min(attempt, 64)))  # min(): 2**huge would overflow a float
    low = (1.0 - min(max(jitter, 0.0), 1.0)) * ceiling
    return max(floor, (rng or _rng).uniform(low, ceiling))
