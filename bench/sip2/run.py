"""Run the SIP2 benchmark: load the database, start libcard's SIP2 server, the one-query floor and
the no-database baseline in processes of their own, drive both from this process at each number of
connections, print the table and whether the targets hold. See bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.load import BENCH_PEPPERS, POSTGRES_ENV, discard, postgres_server_url
from bench.sip2.client import Machine, connect, drive, login_line, status_requests
from bench.sip2.data import DATABASE, Setup, set_up
from bench.status import _machine_busy, _percentiles, _proc_cpu

ROOT = Path(__file__).resolve().parents[2]
SIDES = ("libcard", "floor", "baseline")
SERVER_START_SECONDS = 60.0
# The targets, at TARGET_CONNECTIONS connections.
TARGET_CONNECTIONS = 64
TARGET_SHARE = 0.5  # of the baseline's messages per second
TARGET_P99_MS = 20.0
# A smoke run: still the target's level, not the 256 connections (their logins and their
# queue take longer than the run).
QUICK: dict[str, Any] = {"patrons": 300, "seconds": 0.5, "warmup": 0.1, "connections": [1, 16, 64]}


@dataclass
class Result:
    side: str
    connections: int
    messages: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_server: float | None  # cores the server process used
    cpu_client: float  # cores this process (the load generator) used
    cpu_machine: float | None  # cores the whole machine used (PostgreSQL included)
    first_error: str | None = None

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_ms(self) -> float | None:
        """CPU milliseconds the server spent per message: steadier than messages per second
        on a machine that other work shares."""
        if self.cpu_server is None or not self.messages:
            return None
        return self.cpu_server * self.seconds * 1000 / self.messages


class ServerProcess:
    """`python -m bench.sip2.serve MODE` on a loopback port; always stopped again."""

    def __init__(self, mode: str, setup: Setup, profile: Path | None) -> None:
        self.mode = mode
        self.setup = setup
        self.profile = profile
        self.log = setup.target.workdir / f"{mode}-server.log"
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> None:
        target = self.setup.target
        env = dict(os.environ)
        env.update(
            LIBCARD_DATABASE_URL=target.url,
            LIBCARD_PEPPERS=json.dumps({str(v): k for v, k in BENCH_PEPPERS.items()}),
            LIBCARD_PEPPER_CURRENT_VERSION="1",
            LIBCARD_PEPPER_FILE=str(target.pepper_file),
            LIBCARD_LOG_LEVEL="WARNING",
            PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH")))),
        )
        command = [sys.executable, "-m", "bench.sip2.serve", self.mode]
        if self.profile is not None:
            command += ["--profile", str(self.profile)]
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=log
            )
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), SERVER_START_SECONDS)
        except TimeoutError:
            line = b""
        if not line.startswith(b"port "):
            raise RuntimeError(f"the {self.mode} server did not start; its log:\n{self.tail()}")
        self.port = int(line.split()[1])

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def measure(
    side: str,
    server: ServerProcess,
    machines: list[Machine],
    requests: list[bytes],
    args: argparse.Namespace,
) -> Result:
    if args.warmup > 0:
        await drive(machines, requests, args.warmup, seed=args.seed + 1)
    assert server.pid is not None
    cpu0, server0, machine0 = time.process_time(), _proc_cpu(server.pid), _machine_busy()
    t0 = time.perf_counter()
    tally = await drive(machines, requests, args.seconds, seed=args.seed)
    elapsed = time.perf_counter() - t0
    server1, machine1 = _proc_cpu(server.pid), _machine_busy()
    p50, _, p99 = _percentiles(tally.latencies)
    result = Result(
        side=side,
        connections=len(machines),
        messages=len(tally.latencies),
        errors=tally.errors,
        seconds=elapsed,
        p50_ms=p50 * 1000,
        p99_ms=p99 * 1000,
        cpu_server=None if server0 is None or server1 is None else (server1 - server0) / elapsed,
        cpu_client=(time.process_time() - cpu0) / elapsed,
        cpu_machine=None
        if machine0 is None or machine1 is None
        else (machine1 - machine0) / elapsed,
        first_error=tally.first_error,
    )
    print(_line(result), flush=True)
    return result


def _cores(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _line(r: Result) -> str:
    text = (
        f"{r.side:8s} c={r.connections:<3d} {r.per_second:8.1f} messages/s  "
        f"p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  ({r.messages} in {r.seconds:.1f} s, "
        f"{r.errors} errors; server {_cores(r.server_ms)} CPU ms/message; "
        f"cores: server {_cores(r.cpu_server)}, "
        f"load generator {r.cpu_client:.2f}, machine {_cores(r.cpu_machine)})"
    )
    if r.first_error:
        text += f"\n    first error: {r.first_error}"
    return text


def table(results: list[Result]) -> str:
    by = {(r.side, r.connections): r for r in results}
    lines = [
        "| connections | libcard msg/s | p50 ms | p99 ms | floor msg/s | p99 ms "
        "| baseline msg/s | p50 ms | p99 ms | libcard / baseline | floor / baseline "
        "| CPU ms/msg libcard | floor | baseline | libcard server cores | machine cores "
        "| errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for connections in sorted({r.connections for r in results}):
        lib, floor, base = (by.get((side, connections)) for side in SIDES)
        if lib is None or floor is None or base is None:
            continue
        lines.append(
            f"| {connections} | {lib.per_second:.0f} | {lib.p50_ms:.1f} | {lib.p99_ms:.1f} "
            f"| {floor.per_second:.0f} | {floor.p99_ms:.1f} "
            f"| {base.per_second:.0f} | {base.p50_ms:.2f} | {base.p99_ms:.2f} "
            f"| {_share(lib, base):.3f} | {_share(floor, base):.3f} "
            f"| {_cores(lib.server_ms)} | {_cores(floor.server_ms)} | {_cores(base.server_ms)} "
            f"| {_cores(lib.cpu_server)} | {_cores(lib.cpu_machine)} "
            f"| {lib.errors + floor.errors + base.errors} |"
        )
    return "\n".join(lines)


def _share(side: Result, baseline: Result) -> float:
    return side.per_second / baseline.per_second if baseline.per_second else math.nan


def verdict(results: list[Result]) -> list[str]:
    """Whether the targets hold at TARGET_CONNECTIONS connections, one line each."""
    by = {(r.side, r.connections): r for r in results}
    lib, base = by.get(("libcard", TARGET_CONNECTIONS)), by.get(("baseline", TARGET_CONNECTIONS))
    if lib is None or base is None:
        return [f"targets: not judged, {TARGET_CONNECTIONS} connections were not measured"]
    share = _share(lib, base)
    throughput = share >= TARGET_SHARE
    latency = lib.p99_ms < TARGET_P99_MS
    floor = by.get(("floor", TARGET_CONNECTIONS))
    floor_line = (
        []
        if floor is None
        else [
            f"the floor (one raw query, no rules) at {TARGET_CONNECTIONS} connections: "
            f"{_share(floor, base):.1%} of the baseline, p99 {floor.p99_ms:.1f} ms"
        ]
    )
    return [
        f"target at {TARGET_CONNECTIONS} connections, throughput ≥ {TARGET_SHARE:.0%} of the "
        f"baseline: {'met' if throughput else 'NOT met'} ({share:.1%})",
        f"target at {TARGET_CONNECTIONS} connections, p99 < {TARGET_P99_MS:.0f} ms: "
        f"{'met' if latency else 'NOT met'} ({lib.p99_ms:.1f} ms)",
        *floor_line,
    ]


async def run(args: argparse.Namespace) -> list[Result]:
    print(f"preparing {args.patrons:,} patrons in a fresh database…", flush=True)
    setup = await set_up(
        args.patrons, database=args.database, seed=args.seed, cheap_logins=args.quick
    )
    results: list[Result] = []
    servers: dict[str, ServerProcess] = {}
    machines: dict[str, list[Machine]] = {}
    try:
        print(setup.description, flush=True)
        requests = status_requests(setup.loaded, setup.institution_code)
        profile = args.profile.resolve() if args.profile is not None else None
        servers = {side: ServerProcess(side, setup, profile if side == "libcard" else None)
                   for side in SIDES}  # fmt: skip
        await asyncio.gather(*(server.start() for server in servers.values()))
        login = login_line(setup.terminal_login, setup.terminal_password)
        started = time.perf_counter()
        for side in SIDES:
            machines[side] = await connect(
                servers[side].port, max(args.connections), login, expect_login=side == "libcard"
            )
        print(
            f"{max(args.connections)} connections per server logged in "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        for count in args.connections:
            for side in SIDES:
                results.append(
                    await measure(side, servers[side], machines[side][:count], requests, args)
                )
        for side, server in servers.items():
            if server.process is not None and server.process.returncode is not None:
                print(f"the {side} server stopped early; its log:\n{server.tail()}")
    finally:
        for connections in machines.values():
            await asyncio.gather(*(machine.close() for machine in connections))
        await asyncio.gather(*(server.stop() for server in servers.values()))
        await discard(setup.target, keep=args.keep)
    return results


def report(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        f"SIP2 patron status (23 with the right PIN), {args.patrons:,} patrons, "
        f"{args.seconds:g} s per level; latencies in ms",
        "",
        table(results),
        "",
        *verdict(results),
    ]
    return "\n".join(lines)


def _counts(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive numbers")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sip2", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--patrons", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="Measured, per level.")
    parser.add_argument("--warmup", type=float, default=1.0, help="Unmeasured, per level.")
    parser.add_argument(
        "--connections", type=_counts, default=[1, 16, 64, 256], help="Levels, e.g. 1,16,64."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"A smoke run: {QUICK['patrons']} patrons, {QUICK['seconds']:g} s per level.",
    )
    parser.add_argument(
        "--database", default=DATABASE, help="Made afresh and dropped at the end (PostgreSQL)."
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    parser.add_argument(
        "--profile", type=Path, default=None, help="cProfile the libcard server into this file."
    )
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    if args.patrons < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--patrons and --seconds must be positive, --warmup not negative")
    return args


async def main_async(args: argparse.Namespace) -> list[Result] | None:
    if postgres_server_url() is None:
        print(f"not run: the SIP2 benchmark needs PostgreSQL; set {' or '.join(POSTGRES_ENV)}")
        return None
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
    results = await run(args)
    print()
    print(report(results, args))
    if args.json is not None:
        payload: dict[str, Any] = {
            "patrons": args.patrons,
            "seconds": args.seconds,
            "cpus": os.cpu_count(),
            "results": [
                asdict(r) | {"per_second": r.per_second, "server_ms": r.server_ms} for r in results
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2))
        print(f"\nwritten to {args.json}")
    return results


def main(argv: list[str] | None = None) -> None:
    asyncio.run(main_async(parse_args(argv)))
