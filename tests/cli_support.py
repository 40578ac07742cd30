"""The real `libcard` command run by a test against the database its fixtures made in-process:
the same keys (TEST_KEYS), mail to the console, nothing of the test's own LIBCARD_ settings."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_KEYS

LIBCARD = str(Path(sys.executable).parent / "libcard")


def cli_env(database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIBCARD_")}
    env.update(
        LIBCARD_DATABASE_URL=database_url,
        LIBCARD_PEPPERS=json.dumps(TEST_KEYS),
        LIBCARD_MAIL_TRANSPORT="console",
    )
    env.update(extra or {})
    return env


async def run_libcard(
    database_url: str, cwd: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`libcard ARGS…` to its end, off the event loop; its output captured as text."""
    return await asyncio.to_thread(
        subprocess.run,
        [LIBCARD, *args],
        cwd=cwd,
        env=cli_env(database_url, extra_env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
