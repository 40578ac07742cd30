"""The simulator as a Starlette application, and a way to run it inside the caller's event loop
with uvicorn (for tests and for `libcard serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from libcard.devtools.paysim import control, hosted, mobilepay_api, quickpay_api
from libcard.devtools.paysim.state import SimConfig, Simulation

log = logging.getLogger("libcard.devtools.paysim")


def create_app(config: SimConfig) -> Starlette:
    app = Starlette(
        routes=[*mobilepay_api.routes, *quickpay_api.routes, *hosted.routes, *control.routes]
    )
    app.state.simulation = Simulation(config)
    return app


class _QuietServer(uvicorn.Server):
    """Leaves the signals to the process's main server (or to asyncio.run): whoever started
    the simulator stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningSimulator:
    simulation: Simulation
    url: str
    port: int
    _server: uvicorn.Server
    _task: asyncio.Task[None]

    async def stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        for task in list(self.simulation.tasks):
            task.cancel()
        await asyncio.gather(*self.simulation.tasks, return_exceptions=True)


async def start(config: SimConfig, *, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Listen on host:port (0: a free port) in the running event loop; the hosted pages' address
    is set from the port actually bound."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    url = f"http://{host}:{bound}"
    config.public_url = url
    app = create_app(config)
    server = _QuietServer(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError("the payment simulator stopped at once")
        await asyncio.sleep(0.01)
    log.info("payment simulator listening on %s", url)
    return RunningSimulator(app.state.simulation, url, bound, server, task)
