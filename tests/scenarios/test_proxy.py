"""The fault proxy against a real TCP echo server on loopback."""
from __future__ import annotations

import asyncio
import time

import pytest

from mzsim.waiting import free_port
from scenarios.proxy import FaultProxy


@pytest.fixture
async def proxied():
    async def echo(reader, writer):
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):  # cancelled at teardown: see FaultProxy._accept
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy = await FaultProxy("t", "127.0.0.1", port, free_port()).start()
    yield proxy
    await proxy.close()
    server.close()


async def roundtrip(reader, writer, data: bytes, timeout: float = 2.0) -> bytes:
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), timeout)


async def test_forwards_then_drops_silently_then_heals(proxied):
    r, w = await asyncio.open_connection("127.0.0.1", proxied.port)
    assert await roundtrip(r, w, b"hello") == b"hello"
    proxied.partition("drop")
    w.write(b"lost")
    await w.drain()
    with pytest.raises(asyncio.TimeoutError):  # no answer, and no reset either: a silent partition
        await asyncio.wait_for(r.read(10), 0.5)
    assert not r.at_eof()
    r2, w2 = await asyncio.open_connection("127.0.0.1", proxied.port)  # accepted, black-holed
    w2.write(b"x")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(r2.read(10), 0.3)
    proxied.heal()
    assert await asyncio.wait_for(r.read(10), 2) == b""  # stale connections are reset on heal
    r3, w3 = await asyncio.open_connection("127.0.0.1", proxied.port)
    assert await roundtrip(r3, w3, b"again") == b"again"
    for x in (w, w2, w3):
        x.close()


async def test_reset_mode_closes_existing_and_new_connections(proxied):
    r, w = await asyncio.open_connection("127.0.0.1", proxied.port)
    assert await roundtrip(r, w, b"a") == b"a"
    proxied.partition("reset")
    assert await asyncio.wait_for(r.read(10), 2) == b""
    r2, w2 = await asyncio.open_connection("127.0.0.1", proxied.port)
    assert await asyncio.wait_for(r2.read(10), 2) == b""
    proxied.heal()
    r3, w3 = await asyncio.open_connection("127.0.0.1", proxied.port)
    assert await roundtrip(r3, w3, b"b") == b"b"
    for x in (w, w2, w3):
        x.close()


async def test_delay_holds_each_direction(proxied):
    r, w = await asyncio.open_connection("127.0.0.1", proxied.port)
    assert await roundtrip(r, w, b"warm") == b"warm"
    proxied.delay(0.2)
    start = time.monotonic()
    assert await roundtrip(r, w, b"slow") == b"slow"
    assert time.monotonic() - start >= 0.4  # 0.2 s out, 0.2 s back
    w.close()


def test_a_loop_shut_down_under_open_connections_logs_no_cancelled_error(caplog):
    async def sink(reader, writer):
        try:
            await reader.read()
        except asyncio.CancelledError:  # this test is about the proxy's handler, not this one
            pass

    async def main() -> None:
        upstream = await asyncio.start_server(sink, "127.0.0.1", 0)
        proxy = await FaultProxy("t", "127.0.0.1", upstream.sockets[0].getsockname()[1], free_port()).start()
        _r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
        w.write(b"x")
        await w.drain()
        await asyncio.sleep(0.2)  # the proxy's handler is now pumping; asyncio.run cancels it on return
        assert proxy.accepted == 1

    with caplog.at_level("ERROR", logger="asyncio"):
        asyncio.run(main())
    assert not [r for r in caplog.records if "_accept" in r.getMessage() or "CancelledError" in r.getMessage()
                or (r.exc_info and r.exc_info[0] is asyncio.CancelledError)], caplog.text
