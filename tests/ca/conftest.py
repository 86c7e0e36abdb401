from __future__ import annotations

from tests.support.backends import store  # noqa: F401 (fixture)
