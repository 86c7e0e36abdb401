"""A zone process opens one SQLite store per zone: with `--count 1000`, a
thousand connections. By default each connection makes an up-front bulk
allocation of 20 page-cache lines (about 57 KB of its ~150 KB) that a small
zone store never fills. `lean_page_cache()` turns that off for the process
(SQLITE_CONFIG_PAGECACHE with no memory and N=0: pages are allocated one by one
as they are used; the cache size limit is unchanged).

SQLite accepts configuration only while it is not initialized, so this shuts
it down and back up: call it at process start, before any connection is open.
It acts only on the library Python's sqlite3 module itself uses (same version),
and does nothing where that cannot be done (e.g. a statically linked sqlite3)."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sqlite3

log = logging.getLogger("mzsim.zone")

SQLITE_CONFIG_PAGECACHE = 7
_done = False


def lean_page_cache() -> bool:
    """True if the bulk page-cache allocation is now off in this process."""
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("sqlite3")
    if not name:
        return False
    try:
        lib = ctypes.CDLL(name)
        lib.sqlite3_libversion.restype = ctypes.c_char_p
        if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
            return False  # not the library the sqlite3 module is linked with
        if lib.sqlite3_shutdown() != 0:
            return False
        ok = lib.sqlite3_config(SQLITE_CONFIG_PAGECACHE, ctypes.c_void_p(None), ctypes.c_int(0),
                                ctypes.c_int(0)) == 0
        if lib.sqlite3_initialize() != 0:
            raise RuntimeError("sqlite3_initialize failed after reconfiguring the page cache")
    except (OSError, AttributeError) as e:
        log.debug("sqlite page cache left as it is: %s", e)
        return False
    _done = ok
    return ok
