"""Importing a student registry export: rows per second and peak memory.

    python -m bench.registry_import --rows 100000 --backend postgres

Two runs of one generated CSV file through the code `libcard sync registry` runs
(`read_rows` streaming the file, `run_registry` in one unit of work as the registry):
into a database with an institution and its groups and no patrons (every row creates a
student, with an e-card, an activation code and its mail), and into a database with 100 000
patrons loaded by `bench.load` (half of the file's students exist there and get a changed
name; the other half are created). Both runs are full exports. A second pass of the same file
over the full database shows the cost of a run that changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from bench.load import (
    CARD_PREFIX,
    INSTITUTION_CODE,
    POSTGRES_ENV,
    discard,
    load,
    postgres_server_url,
    prepare,
)
from libcard.context import Actor, ActorKind
from libcard.policy.service import create_group, create_institution
from libcard.runtime import Runtime
from libcard.sync.registry import FileFormat, read_rows
from libcard.sync.service import RunSummary, run_registry

PUBLIC_URL = "https://cards.bench.example"


def write_file(path: Path, rows: int) -> None:
    """registry ids S00000001…: the ids `bench.load` gives its students (patron id, where the
    patron is a student), so a full database already holds about half of them."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("registry_id;first_name;last_name;birth_date;institutional_email;city\n")
        for n in range(1, rows + 1):
            out.write(
                f"S{n:08d};Student{n % 997};Registry{n % 1009};"
                f"{2000 + n % 8}-0{1 + n % 9}-1{n % 10};"
                f"s{n}@stud.example.org;City{n % 50}\n"
            )


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def import_file(
    runtime: Runtime, institution_id: int, path: Path
) -> tuple[RunSummary, float]:
    actor = Actor(ActorKind.REGISTRY, "registry bench", institution_id=institution_id)
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as stream:
        async with runtime.unit(actor) as ctx:
            summary = await run_registry(
                ctx,
                institution_id,
                read_rows(stream, FileFormat.CSV),
                full=True,
                public_url=PUBLIC_URL,
            )
    return summary, time.perf_counter() - started


def report(label: str, summary: RunSummary, seconds: float) -> None:
    print(
        f"{label}: {summary.rows:,} rows in {seconds:.1f} s = "
        f"{summary.rows / seconds:,.0f} rows/s; "
        f"created {summary.created:,}, updated {summary.updated:,}, "
        f"unchanged {summary.unchanged:,}, missing {summary.missing:,}, "
        f"refused {summary.refused_count:,}; peak RSS so far {peak_mib():,.0f} MiB",
        flush=True,
    )


async def empty_database(backend: str, path: Path) -> None:
    target = await prepare(backend)
    runtime = Runtime.build(target.settings())
    try:
        async with runtime.unit() as ctx:
            institution = await create_institution(
                ctx, code=INSTITUTION_CODE, name="Benchmark Library", card_prefix=CARD_PREFIX
            )
            for code in ("student", "employee", "external"):
                await create_group(ctx, institution.id, code=code, name=code.title())
            institution_id = institution.id
        summary, seconds = await import_file(runtime, institution_id, path)
        report(f"[{backend}] empty database", summary, seconds)
    finally:
        await runtime.close()
        await discard(target)


async def full_database(backend: str, path: Path, patrons: int) -> None:
    target = await prepare(backend)
    runtime = Runtime.build(target.settings())
    try:
        loaded = await load(runtime, patrons)
        summary, seconds = await import_file(runtime, loaded.institution_id, path)
        report(f"[{backend}] database of {patrons:,} patrons", summary, seconds)
        summary, seconds = await import_file(runtime, loaded.institution_id, path)
        report(f"[{backend}] the same file again", summary, seconds)
    finally:
        await runtime.close()
        await discard(target)


async def _main(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="libcard-registry-") as workdir:
        path = Path(workdir) / "registry.csv"
        write_file(path, args.rows)
        print(f"{args.rows:,} rows, {path.stat().st_size / 2**20:.1f} MiB of CSV", flush=True)
        for backend in backends:
            if backend == "postgres" and postgres_server_url() is None:
                print(f"[postgres] not run: set {' or '.join(POSTGRES_ENV)}", flush=True)
                continue
            if args.scenario in ("empty", "both"):
                await empty_database(backend, path)
            if args.scenario in ("full", "both"):
                await full_database(backend, path, args.patrons)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="postgres")
    parser.add_argument("--scenario", choices=["empty", "full", "both"], default="both")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--patrons", type=int, default=100_000, help="Loaded before 'full'.")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
