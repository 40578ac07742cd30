"""`python -m libcard.devtools.paysim --port 8010`: the simulator on its own, with the
credentials and webhook addresses of libcard's settings."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from libcard.config import Settings, get_settings
from libcard.devtools.paysim.server import start
from libcard.devtools.paysim.state import SimConfig


async def _run(settings: Settings, host: str, port: int) -> None:
    running = await start(SimConfig.from_settings(settings), host=host, port=port)
    print(f"payment simulator on {running.url} (MobilePay and card APIs, /_sim controls)")
    try:
        await asyncio.Event().wait()
    finally:
        await running.stop()


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m libcard.devtools.paysim")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.payments_simulator_port)
    args = parser.parse_args()
    logging.basicConfig(level=settings.log_level)
    # The simulator's made-up credentials are offered even when the simulator is off in the
    # settings: running it on purpose is asking for them.
    settings = settings.model_copy(update={"payments_simulator": True})
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(settings, args.host, args.port))


if __name__ == "__main__":
    main()
