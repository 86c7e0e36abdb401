"""How late scheduled renewals complete, and how many came after the old
certificate had already expired: the figures bench/scale.py reads from each
zone's /status (`issuance.rotation`). Lateness is measured against the
renewal time the reconciler drew for the certificate (inside the jitter band),
from that time until the new certificate is held; fixed buckets, so figures
from many zones add up."""
from __future__ import annotations

import bisect
from typing import Any

# Upper bounds in seconds; a last bucket catches the rest.
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)


class RotationStats:
    __slots__ = ("counts", "renewals", "max_late", "expired")

    def __init__(self) -> None:
        self.counts: list[int] | None = None  # made on the first renewal: an idle zone pays nothing
        self.renewals = 0
        self.max_late = 0.0
        self.expired = 0

    def record(self, scheduled: float, renewed: float, old_not_after: float | None) -> None:
        late = max(0.0, renewed - scheduled)
        if self.counts is None:
            self.counts = [0] * (len(BUCKETS) + 1)
        self.counts[bisect.bisect_left(BUCKETS, late)] += 1
        self.renewals += 1
        self.max_late = max(self.max_late, late)
        if old_not_after is not None and renewed > old_not_after:
            self.expired += 1

    def as_dict(self) -> dict[str, Any]:
        counts = self.counts or [0] * (len(BUCKETS) + 1)
        return {"renewals": self.renewals, "expiredBeforeRenewal": self.expired,
                "maxLateSeconds": round(self.max_late, 3),
                "lateSeconds": {"le": [*BUCKETS, "+Inf"], "counts": counts}}


def quantile(le: list, counts: list[int], q: float) -> float:
    """The upper bound of the bucket holding quantile `q` of merged counts (inf for the last)."""
    total = sum(counts)
    if not total:
        return 0.0
    rank, seen = q * total, 0
    for bound, c in zip(le, counts, strict=True):
        seen += c
        if seen >= rank:
            return float("inf") if bound == "+Inf" else float(bound)
    return float("inf")
