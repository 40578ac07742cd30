"""`libcard worker` and `libcard jobs run NAME`: the jobs from the command line."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from libcard.config import Settings, get_settings
from libcard.errors import LibcardError
from libcard.jobs.registry import JOBS, Report, job_named
from libcard.jobs.scheduler import JobScheduler
from libcard.kit.clock import FrozenClock
from libcard.migrate import upgrade
from libcard.notify.sender import MailSender, transport_from
from libcard.runtime import Runtime

console = Console(stderr=True)
jobs_app = typer.Typer(help="The jobs libcard runs on its own.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


def worker() -> None:
    """Run the daily jobs and send the mail outbox until interrupted (Ctrl-C or SIGTERM).
    For deployments that set LIBCARD_RUN_JOBS=false on their `serve` processes."""
    settings = get_settings()
    _logging(settings)
    upgrade(settings.database_url)
    console.print("libcard worker running: daily jobs and the mail outbox. Ctrl-C stops it.")
    asyncio.run(_work(Runtime.build(settings)))
    console.print("libcard worker stopped.")


async def _work(runtime: Runtime) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sender = MailSender(runtime, transport_from(runtime.settings))
    scheduler = JobScheduler(runtime)
    sender.start()
    scheduler.start()
    try:
        await stop.wait()
    finally:
        await scheduler.stop()
        await sender.stop()
        await runtime.close()


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date and time; write it like 2026-03-01T06:00:00+01:00."
        ) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(
            f"Give {text!r} with its UTC offset, like 2026-03-01T06:00:00+01:00 or …Z."
        )
    return moment


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help=f"The job: {', '.join(JOBS)}.")],
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Run as if it were this moment (ISO 8601 with offset); default: now.",
        ),
    ] = None,
) -> None:
    """Run one job once, now, and print what it did. Jobs are idempotent, so a run beside
    the scheduler's changes nothing twice; a manual run is not recorded as the day's run."""
    moment = _parse_now(now)
    settings = get_settings()
    _logging(settings)
    try:
        job = job_named(name)
    except LibcardError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from None
    upgrade(settings.database_url)

    async def run() -> Report:
        runtime = Runtime.build(settings, clock=FrozenClock(moment) if moment else None)
        try:
            return await job.run(runtime, runtime.clock.now())
        finally:
            await runtime.close()

    report = asyncio.run(run())
    typer.echo(f"{job.name}: {report.summary()}")
    if report.failures:
        console.print(f"[yellow]{report.failures} failed; see the log above.[/yellow]")
        raise typer.Exit(1)
