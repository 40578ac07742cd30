"""How many `cards/{number}/status` decisions per second libcard answers, with 100 000
patrons loaded: through the service layer (`card_status` in a read-only unit of work, as the
route runs it) and through the HTTP API (the real server, in a subprocess, on a loopback
port), on SQLite and PostgreSQL.

    .venv/bin/python -m bench.status --patrons 100000
    .venv/bin/python -m bench.status --backend sqlite --seconds 5 --concurrency 1,8

It prints figures and asserts nothing about time. PostgreSQL runs only when
LIBCARD_BENCH_POSTGRES_URL (or LIBCARD_TEST_POSTGRES_URL) names a server; the database
`libcard_bench` on it is dropped, made afresh, and dropped again at the end (unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.load import (
    BENCH_PEPPERS,
    POSTGRES_ENV,
    Loaded,
    Target,
    describe,
    discard,
    load,
    postgres_server_url,
    prepare,
)
from libcard.access.scopes import Scope
from libcard.access.service import create_token
from libcard.accounts.service import card_status, refusal_is_noted
from libcard.cards.service import get_card, note_refused_use
from libcard.context import Actor, ActorKind
from libcard.policy.rules import Action
from libcard.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the benchmark talks to nothing but this machine's loopback
SERVER_START_SECONDS = 60.0


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    layer: str  # "service" or "http"
    concurrency: int
    decisions: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    refused_share: float  # decisions that said "may not borrow": a check the data is realistic
    cpu_bench: float  # cores used by this process (event loop and driver threads)
    cpu_server: float | None  # cores used by the HTTP server process
    cpu_machine: float | None  # cores busy on the whole machine, anything else included
    first_error: str | None = None

    @property
    def per_second(self) -> float:
        return self.decisions / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float | None:
        """CPU time of the process running libcard per decision: this process for the service
        layer, the server for HTTP (the database server's own CPU is not in it). Less swayed
        by other work on the machine than decisions per second."""
        cores = self.cpu_server if self.layer == "http" else self.cpu_bench
        if cores is None or not self.decisions:
            return None
        return cores * 1000 / self.per_second


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    refused: int = 0
    errors: int = 0
    first_error: str | None = None

    def error(self, error: BaseException) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = f"{type(error).__name__}: {error}"[:300]


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    if len(values) == 1:
        return (values[0],) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used, from /proc; None where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float | None:
    """CPU seconds the whole machine has been busy, from /proc/stat; None where there is none."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _delta(before: float | None, after: float | None, seconds: float) -> float | None:
    if before is None or after is None or seconds <= 0:
        return None
    return (after - before) / seconds


Attempt = Callable[[random.Random, Tally], Awaitable[None]]


async def _drive(attempt: Attempt, concurrency: int, seconds: float, max_count: int) -> Tally:
    """Run `attempt` from `concurrency` workers until `seconds` pass or `max_count` are made."""
    tally = Tally()
    deadline = time.perf_counter() + seconds
    started = 0

    async def worker(seed: int) -> None:
        nonlocal started
        rng = random.Random(seed)
        while time.perf_counter() < deadline and started < max_count:
            started += 1
            if tally.errors > 1000 and not tally.latencies:
                return  # nothing works: stop rather than spin for the whole period
            await attempt(rng, tally)

    await asyncio.gather(*(worker(seed) for seed in range(concurrency)))
    return tally


async def _measure(
    backend: str,
    layer: str,
    attempt: Attempt,
    concurrency: int,
    args: argparse.Namespace,
    server_pid: int | None = None,
) -> Result:
    if args.warmup > 0:
        await _drive(attempt, concurrency, args.warmup, args.max_requests)
    cpu0, server0, machine0 = time.process_time(), None, _machine_busy()
    if server_pid is not None:
        server0 = _proc_cpu(server_pid)
    t0 = time.perf_counter()
    tally = await _drive(attempt, concurrency, args.seconds, args.max_requests)
    elapsed = time.perf_counter() - t0
    cpu_bench = (time.process_time() - cpu0) / elapsed
    cpu_server = None
    if server_pid is not None:
        cpu_server = _delta(server0, _proc_cpu(server_pid), elapsed)
    p50, p95, p99 = _percentiles(tally.latencies)
    decisions = len(tally.latencies)
    result = Result(
        backend=backend,
        layer=layer,
        concurrency=concurrency,
        decisions=decisions,
        errors=tally.errors,
        seconds=elapsed,
        p50_ms=p50 * 1000,
        p95_ms=p95 * 1000,
        p99_ms=p99 * 1000,
        refused_share=tally.refused / decisions if decisions else 0.0,
        cpu_bench=cpu_bench,
        cpu_server=cpu_server,
        cpu_machine=_delta(machine0, _machine_busy(), elapsed),
        first_error=tally.first_error,
    )
    print(_line(result), flush=True)
    return result


def _line(r: Result) -> str:
    cpu = f"cpu: bench {r.cpu_bench:.2f}"
    if r.cpu_server is not None:
        cpu += f", server {r.cpu_server:.2f}"
    if r.cpu_machine is not None:
        cpu += f", machine {r.cpu_machine:.2f} cores"
    text = (
        f"[{r.backend}] {r.layer:7s} c={r.concurrency:<3d} {r.per_second:8.1f} decisions/s  "
        f"p50 {r.p50_ms:7.2f} ms  p95 {r.p95_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  "
        f"({r.decisions} in {r.seconds:.1f} s, {r.errors} errors, "
        f"{r.refused_share:.1%} may not borrow; {cpu})"
    )
    if r.first_error:
        text += f"\n    first error: {r.first_error}"
    return text


# --- the service layer -----------------------------------------------------------------------


async def bench_service(
    runtime: Runtime, loaded: Loaded, backend: str, args: argparse.Namespace
) -> list[Result]:
    actor = Actor(
        kind=ActorKind.SERVICE, label="bench service", institution_id=loaded.institution_id
    )

    async def attempt(rng: random.Random, tally: Tally) -> None:
        number = loaded.card_number(rng.randrange(loaded.patrons))
        t0 = time.perf_counter()
        try:
            # As the route does (web/api/card_routes.py `_status`): the decision in a read-only
            # unit, and a refused card's use noted afterwards in a unit of its own that writes.
            async with runtime.unit(actor, readonly=True) as ctx:
                status = await card_status(ctx, number, note_refusal=False)
                noted = refusal_is_noted(ctx, status.state)
            if noted:
                async with runtime.unit(actor) as ctx:
                    await note_refused_use(ctx, await get_card(ctx, status.card.id), "status")
        except Exception as error:
            tally.error(error)
            return
        tally.latencies.append(time.perf_counter() - t0)
        tally.refused += not status.may[Action.BORROW]

    return [
        await _measure(backend, "service", attempt, concurrency, args)
        for concurrency in args.concurrency
    ]


# --- the HTTP API ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def _token(runtime: Runtime, loaded: Loaded) -> str:
    """An API token for a digital service that may ask for the status, made by the service."""
    async with runtime.unit() as ctx:
        _, secret = await create_token(
            ctx,
            name="bench status",
            actor_kind=ActorKind.SERVICE,
            scopes=[Scope.CARDS_STATUS],
            institution_id=loaded.institution_id,
        )
    return secret


class Server:
    """`uvicorn bench._app:create` in a subprocess on a loopback port; always stopped again."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.port = _free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log = target.workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            LIBCARD_DATABASE_URL=self.target.url,
            LIBCARD_PEPPERS=json.dumps({str(v): k for v, k in BENCH_PEPPERS.items()}),
            LIBCARD_PEPPER_CURRENT_VERSION="1",
            LIBCARD_PEPPER_FILE=str(self.target.pepper_file),
            LIBCARD_LOG_LEVEL="WARNING",
        )
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench._app:create",
            "--factory",
            "--app-dir",
            str(ROOT),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--no-access-log",  # card numbers are in the paths, as `libcard serve` says
            "--log-level",
            "warning",
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 — our own interpreter and module
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_SECONDS
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    break
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the server did not start; its log:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


async def bench_http(
    target: Target, secret: str, loaded: Loaded, backend: str, args: argparse.Namespace
) -> list[Result]:
    server = Server(target)
    server.start()
    try:
        await server.wait_ready()
        assert server.process is not None
        results = []
        for concurrency in args.http_concurrency:
            limits = httpx.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            )
            async with httpx.AsyncClient(
                base_url=server.base_url,
                headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"},
                limits=limits,
                timeout=30.0,
            ) as client:

                async def attempt(
                    rng: random.Random, tally: Tally, client: httpx.AsyncClient = client
                ) -> None:
                    number = loaded.card_number(rng.randrange(loaded.patrons))
                    t0 = time.perf_counter()
                    try:
                        response = await client.get(f"/api/v1/cards/{number}/status")
                    except httpx.HTTPError as error:
                        tally.error(error)
                        return
                    elapsed = time.perf_counter() - t0
                    if response.status_code != 200:
                        tally.error(RuntimeError(f"HTTP {response.status_code}: {response.text}"))
                        return
                    tally.latencies.append(elapsed)
                    tally.refused += not response.json()["may"]["borrow"]

                results.append(
                    await _measure(backend, "http", attempt, concurrency, args, server.process.pid)
                )
        if server.process.poll() is not None:
            print(f"[{backend}] the server stopped early; its log:\n{server.tail()}")
        return results
    finally:
        server.stop()


# --- one backend, then all -------------------------------------------------------------------


async def run_backend(backend: str, args: argparse.Namespace) -> list[Result]:
    print(f"[{backend}] preparing a fresh database and loading {args.patrons:,} patrons…")
    target = await prepare(backend)
    results: list[Result] = []
    try:
        loader = Runtime.build(target.settings())
        try:
            loaded = await load(loader, args.patrons, seed=args.seed)
        finally:
            await loader.close()  # on SQLite, closing the last connection checkpoints the WAL
        print(describe(loaded, backend), flush=True)
        runtime = Runtime.build(target.settings())
        try:
            if not args.skip_service:
                results += await bench_service(runtime, loaded, backend, args)
            secret = await _token(runtime, loaded)
        finally:
            await runtime.close()
        if not args.skip_http:
            results += await bench_http(target, secret, loaded, backend, args)
    finally:
        await discard(target, keep=args.keep)
    return results


def _summary(results: list[Result], patrons: int) -> str:
    lines = [
        f"Summary: {patrons:,} patrons; latencies in ms",
        "",
        "| backend | layer | concurrency | decisions/s | p50 | p95 | p99 | CPU ms/decision "
        "| machine busy (cores) | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.backend} | {r.layer} | {r.concurrency} | {r.per_second:.0f} | "
        f"{r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} | {_maybe(r.cpu_ms)} | "
        f"{_maybe(r.cpu_machine, 2)} | {r.errors} |"
        for r in results
    ]
    return "\n".join(lines)


def _maybe(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _counts(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive numbers")
    return values


def _machine() -> str:
    try:
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "unknown"
    return (
        f"machine: {os.cpu_count()} CPUs, load average {load}, Python {sys.version.split()[0]} "
        "(other work on the machine shows in the 'machine' CPU figure of each line)"
    )


async def _main(args: argparse.Namespace) -> None:
    print(_machine(), flush=True)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: list[Result] = []
    notes: list[str] = []
    for backend in backends:
        if backend == "postgres" and postgres_server_url() is None:
            notes.append(f"postgres: not run; set {' or '.join(POSTGRES_ENV)} to a server URL")
            print(f"[{notes[-1]}]", flush=True)
            continue
        results += await run_backend(backend, args)
    print()
    print(_summary(results, args.patrons))
    for note in notes:
        print(f"\n{note}")
    if args.json is not None:
        payload: dict[str, Any] = {
            "patrons": args.patrons,
            "seconds": args.seconds,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "results": [
                asdict(r) | {"per_second": r.per_second, "cpu_ms": r.cpu_ms} for r in results
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
        print(f"\nwritten to {args.json}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--patrons", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="Per configuration.")
    parser.add_argument("--warmup", type=float, default=1.0, help="Unmeasured, per config.")
    parser.add_argument(
        "--concurrency", type=_counts, default=[1, 8], help="Service-layer workers, e.g. 1,8."
    )
    parser.add_argument(
        "--http-concurrency", type=_counts, default=[1, 8], help="HTTP connections, e.g. 1,8,32."
    )
    parser.add_argument(
        "--max-requests", type=int, default=1_000_000, help="Cap per configuration."
    )
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="Keep the databases afterwards.")
    parser.add_argument(
        "--json", type=Path, default=None, help="Also write the results here (bench/results/)."
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
