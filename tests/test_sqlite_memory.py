"""zone_cp/sqlite_memory.py in a process of its own (it reconfigures SQLite for
the whole process): stores still work, and each costs less resident memory."""
from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import gc, os, sys, tempfile
from zone_cp.sqlite_memory import lean_page_cache
if sys.argv[1] == "lean":
    assert lean_page_cache() and lean_page_cache()
from common.resources import Resource
from common.store import Store
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
d = tempfile.mkdtemp()
keep, r0 = [], rss()
for i in range(200):
    s = Store(os.path.join(d, str(i), "zone.db"))
    s.apply([Resource("DataplaneInsight", f"dp-{k}", "m", {"mTLS": {"status": "ok"}}) for k in range(20)], [])
    assert len(s.list("DataplaneInsight")) == 20
    keep.append(s)
gc.collect()
print((rss() - r0) / 200)
"""


def per_store(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120, check=True)
    return float(out.stdout.strip())


def test_without_the_bulk_page_cache_each_store_costs_less_and_still_works():
    default, lean = per_store("default"), per_store("lean")
    assert lean < default - 30 * 1024, (default, lean)  # about 57 KB less per store on Linux with libsqlite3


def test_a_page_size_applies_to_a_new_store_and_an_existing_store_keeps_its_own(tmp_path):
    from common.resources import Resource
    from common.store import Store
    from zone_cp.app import ZONE_STORE_PAGE_SIZE

    new = Store(str(tmp_path / "new.db"), page_size=ZONE_STORE_PAGE_SIZE)
    assert new._db.execute("PRAGMA page_size").fetchone()[0] == ZONE_STORE_PAGE_SIZE
    big = Resource("Secret", "big", "default", {"data": "x" * 10_000})  # spills into overflow pages
    new.put(big)
    new.close()
    again = Store(str(tmp_path / "new.db"), page_size=ZONE_STORE_PAGE_SIZE)
    assert again.get("Secret", "big", "default").spec == big.spec
    again.close()

    old = Store(str(tmp_path / "old.db"))  # SQLite's default page size
    old.put(big)
    default = old._db.execute("PRAGMA page_size").fetchone()[0]
    old.close()
    reopened = Store(str(tmp_path / "old.db"), page_size=ZONE_STORE_PAGE_SIZE)
    assert reopened._db.execute("PRAGMA page_size").fetchone()[0] == default != ZONE_STORE_PAGE_SIZE
    assert reopened.get("Secret", "big", "default").spec == big.spec
    reopened.close()
