"""The zone issuance engine: certificates for every dataplane of every mesh
with mTLS enabled, with rotation, backoff and a per-backend circuit breaker.

    engine = IssuanceEngine(store, ctx, IssuanceConfig(...))
    await engine.start()
    engine.identity(mesh, dataplane)  # -> IssuedCert | None
    engine.stats()                    # counters and per-backend breaker state
    await engine.stop()

See docs/issuance.md."""
from .clock import Clock, ManualClock, SystemClock
from .config import IssuanceConfig
from .engine import IssuanceEngine

__all__ = ["Clock", "IssuanceConfig", "IssuanceEngine", "ManualClock", "SystemClock"]
