"""The wait every long-running mzsim process ends in: until SIGINT or SIGTERM."""
from __future__ import annotations

import asyncio
import signal


async def wait_for_stop_signal(ready_message: str = "") -> None:
    """Print `ready_message` (the line launchers and users look for), then wait."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready_message:
        print(ready_message, flush=True)
    await stop.wait()
