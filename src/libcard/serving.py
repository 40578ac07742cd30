"""`libcard serve`: the HTTP application and the SIP2 server in one process and event loop."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import uvicorn

from libcard.config import Settings
from libcard.runtime import Runtime
from libcard.sip2.responder import LibcardResponder
from libcard.sip2.server import Sip2Limits, Sip2Server, tls_context
from libcard.web.app import create_app

if TYPE_CHECKING:
    from libcard.devtools.paysim import RunningSimulator

logger = logging.getLogger(__name__)


def sip2_server(runtime: Runtime, settings: Settings, port: int | None = None) -> Sip2Server:
    tls = None
    if settings.sip2_tls_certfile is not None:
        keyfile = str(settings.sip2_tls_keyfile) if settings.sip2_tls_keyfile else None
        tls = tls_context(str(settings.sip2_tls_certfile), keyfile)
    return Sip2Server(
        LibcardResponder(runtime),
        host=settings.sip2_host,
        port=settings.sip2_port if port is None else port,
        tls=tls,
        limits=Sip2Limits(
            idle_seconds=settings.sip2_idle_seconds,
            max_message_bytes=settings.sip2_max_message_bytes,
            max_connections=settings.sip2_max_connections,
        ),
    )


async def payment_simulator(settings: Settings) -> RunningSimulator | None:
    """The payment providers' simulator on loopback, when the settings ask for it (the
    embedded default). A taken port is logged and serving goes on without it: payments then
    fail with "provider unavailable", and nothing else does."""
    from libcard.devtools.paysim import SimConfig, start

    try:
        running = await start(
            SimConfig.from_settings(settings), port=settings.payments_simulator_port
        )
    except OSError as error:
        logger.error(
            "Payment simulator not started on port %d: %s",
            settings.payments_simulator_port,
            error.strerror,
        )
        return None
    logger.warning("Online payments are SIMULATED (%s); no money moves", running.url)
    return running


async def serve_all(
    runtime: Runtime, settings: Settings, *, host: str, port: int, sip2_port: int | None
) -> None:
    """Serve HTTP until interrupted (uvicorn handles the signals), with SIP2 beside it when
    `sip2_port` is given; the runtime is closed after both have stopped."""
    config = uvicorn.Config(
        create_app(runtime),
        host=host,
        port=port,
        access_log=False,  # card numbers appear in request paths
        log_level=settings.log_level.lower(),
    )
    server = uvicorn.Server(config)
    sip2 = sip2_server(runtime, settings, sip2_port) if sip2_port is not None else None
    payments = None
    try:
        if settings.simulating_payments:
            payments = await payment_simulator(settings)
        if sip2 is not None:
            await sip2.start()
            scheme = "SIP2 over TLS" if sip2.tls else "SIP2"
            logger.info("%s listening on %s:%d", scheme, settings.sip2_host, sip2.port)
        await server.serve()
    finally:
        if payments is not None:
            await payments.stop()
        if sip2 is not None:
            await sip2.close()
        await runtime.close()
