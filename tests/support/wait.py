"""Re-exported for tests: see common/waiting.py."""
from common.waiting import WaitTimeout, async_wait_until, free_port, wait_port, wait_until  # noqa: F401
