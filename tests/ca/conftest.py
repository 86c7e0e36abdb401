from __future__ import annotations

import pytest

from common.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "store.db"))
    yield s
    s.close()
