"""One SIP2 server for the benchmark, in a process of its own, built as `libcard serve` builds
it (`serving.sip2_server`: `Sip2Server` with `LibcardResponder`), or the baseline: the same
`Sip2Server` answering every line with `FixedReply(baseline_reply())`, touching nothing.

    python -m bench.sip2.serve libcard|floor|baseline [--profile FILE]

`floor` is the same server answering 23s after one raw query (bench/sip2/floor.py).

Listens on a free loopback port and prints "port N" on its standard output once it accepts
connections; stops on SIGTERM or SIGINT. Reads LIBCARD_DATABASE_URL, LIBCARD_PEPPERS and
LIBCARD_PEPPER_FILE from the environment (bench/sip2/run.py sets them). With --profile the
whole life of the server runs under cProfile and the statistics are written to FILE at the end
(read them with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import signal
import sys

from bench.sip2.floor import FloorResponder, floor_pool
from libcard.config import Settings
from libcard.runtime import Runtime
from libcard.serving import sip2_server
from libcard.sip2.server import FixedReply, Sip2Limits, Sip2Server, baseline_reply

# The benchmark opens up to a few hundred connections at once and stays well inside the
# default idle time; the limits are the production defaults otherwise.
LIMITS = Sip2Limits(max_connections=1024)


async def serve(mode: str) -> None:
    runtime: Runtime | None = None
    pool = None
    if mode == "libcard":
        settings = Settings(sip2_host="127.0.0.1", sip2_port=0, sip2_max_connections=1024)
        runtime = Runtime.build(settings)
        server = sip2_server(runtime, settings)
    elif mode == "floor":
        settings = Settings()
        runtime = Runtime.build(settings)  # for its keyring; its engine stays unused
        pool = await floor_pool(settings.database_url)
        server = Sip2Server(FloorResponder(pool, runtime.keyring), port=0, limits=LIMITS)
    else:
        server = Sip2Server(FixedReply(baseline_reply()), port=0, limits=LIMITS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
        print(f"port {server.port}", flush=True)
        await stop.wait()
    finally:
        await server.close()
        if pool is not None:
            await pool.close()
        if runtime is not None:
            await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["libcard", "floor", "baseline"])
    parser.add_argument("--profile", default=None, help="Write cProfile statistics here.")
    args = parser.parse_args()
    if args.profile is None:
        asyncio.run(serve(args.mode))
        return
    profile = cProfile.Profile()
    try:
        profile.runcall(asyncio.run, serve(args.mode))
    finally:
        profile.dump_stats(args.profile)
        print(f"profile written to {args.profile}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
