"""The zone issuance engine: certificates for every dataplane of every mesh
with mTLS enabled, with rotation, backoff and a per-backend circuit breaker.

    engine = IssuanceEngine(store, ctx, IssuanceConfig(...))
    await engine.start()
    engine.identity(mesh, dataplane)  # -> IssuedCert | None
    engine.stats()                    # counters and per-backend breaker state
    await engine.stop()

The engine wires a pure Reconciler (reconciler.py: what should exist), a
Scheduler (scheduler.py: a clock and a heap of due times), a WorkerPool per
mesh backend (workers.py: queue, workers, breaker, backoff) and coalesced
DataplaneInsight writes (insights.py). See docs/issuance.md."""
from .clock import Clock, ManualClock, SystemClock
from .config import IssuanceConfig
from .engine import IssuanceEngine

__all__ = ["Clock", "IssuanceConfig", "IssuanceEngine", "ManualClock", "SystemClock"]
