"""The API server's connection limits, over real sockets."""
from __future__ import annotations

import socket
import time

import pytest
from aiohttp import web

from common.errors import BadRequest
from common.httpapi import HttpLimits, start_site
from mzsim.launcher import Global
from mzsim.waiting import wait_until


def _closed(s: socket.socket) -> bool:
    try:
        return s.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_idle_and_slow_connections_are_closed(cluster):
    g = cluster.add(Global(cluster.dir, env={"MZSIM_HTTP_KEEPALIVE_TIMEOUT": "1s"}))
    host, port = g.api.removeprefix("http://").split(":")
    socks = [socket.create_connection((host, int(port))) for _ in range(50)]
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"GET /meshes HTTP/1.1\r\nHost: x\r\n")  # a request head that never ends
    kept = socket.create_connection((host, int(port)))
    kept.sendall(b"GET /meshes HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in kept.recv(65536)
    start = time.monotonic()
    assert g.get("/meshes")[0] == 200 and time.monotonic() - start < 1.0
    for s in [*socks, slow, kept]:
        s.setblocking(False)
    wait_until(lambda: all(_closed(s) for s in [*socks, slow, kept]), 5, what="idle connections closed")
    for s in [*socks, slow, kept]:
        s.close()


async def test_a_non_positive_keepalive_is_refused():
    with pytest.raises(BadRequest, match="keepalive_timeout must be positive"):
        await start_site(web.Application(), "127.0.0.1", 0, HttpLimits(keepalive_timeout=0))
