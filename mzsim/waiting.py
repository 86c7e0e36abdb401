"""Waiting on conditions with bounded timeouts (never sleep-and-hope).
Used by the launcher, the demo, the stand-in servers, the tests and the benchmarks."""
from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(count: int, start: int = 20000, stop: int = 32000) -> int:
    """First port of `count` consecutive free ports, below Linux's ephemeral
    range so outgoing connections do not take them meanwhile."""
    for _ in range(200):
        base = random.randrange(start, stop - count)
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports between {start} and {stop}")


def wait_until(cond: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    """Poll `cond` until it returns a truthy value; return it. Exceptions count as not yet."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - keep polling, report at the end
            last_exc = e
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what or cond}: last error {last_exc!r}")
        time.sleep(interval)


async def async_wait_until(cond: Callable[[], Awaitable[T] | T], timeout: float = 10.0,
                           interval: float = 0.05, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = cond()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
        except Exception as e:  # noqa: BLE001
            last_exc = e
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what or cond}: last error {last_exc!r}")
        await asyncio.sleep(interval)


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    def ok():
        with socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex((host, port)) == 0

    wait_until(ok, timeout, what=f"port {host}:{port}")
