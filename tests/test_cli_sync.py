"""`libcard sync registry FILE` as the registry's nightly job runs it: the real command against
a database made in-process, with the summary, the refused lines and the progress bar it prints.
What a run does to each student is tested under tests/sync/; here, the command around it."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from libcard.patrons.models import Patron
from tests.cli_support import run_libcard
from tests.conftest import World

CSV = (
    "registry_id;first_name;last_name;institutional_email\n"
    "S1001;Anna;Berg;anna@stud.nordby.example\n"
    "S1002;Bo;Dal;bo@stud.nordby.example\n"
    "S1001;Anna;Again;\n"  # line 4: the same student twice
)


def _counts(output: str) -> dict[str, int]:
    """The summary table's rows, e.g. {"created": 2, "refused": 1}."""
    return {
        label.strip(): int(count)
        for label, count in re.findall(r"│ ([a-z][a-z ]+?)\s*│\s*(\d+) │", output)
    }


async def _students(world: World) -> dict[str, tuple[str, bool]]:
    """registry id → (last name, missing from the registry)."""
    async with world.runtime.unit(readonly=True) as ctx:
        found = await ctx.session.scalars(select(Patron).where(Patron.registry_id.is_not(None)))
        return {
            str(p.registry_id): (p.last_name, p.registry_missing_since is not None) for p in found
        }


async def test_a_dry_run_then_a_run_then_the_same_file_again(
    world: World, database_url: str, tmp_path: Path
) -> None:
    students = tmp_path / "students.csv"
    students.write_text(CSV, encoding="utf-8")

    dry = await run_libcard(database_url, tmp_path, "sync", "registry", str(students), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Registry run (dry run: nothing changed)" in dry.stderr
    assert _counts(dry.stderr) == {
        "rows read": 3,
        "created": 2,
        "updated": 0,
        "of them back in the registry": 0,
        "unchanged": 0,
        "newly missing": 0,
        "expired": 0,
        "refused": 1,
    }
    assert "line 4: duplicate_registry_id: The registry_id 'S1001' appears already" in dry.stderr
    assert "2 change(s)." in dry.stderr
    assert await _students(world) == {}

    ran = await run_libcard(database_url, tmp_path, "sync", "registry", str(students))
    assert ran.returncode == 0, ran.stderr
    assert "dry run" not in ran.stderr
    assert _counts(ran.stderr)["created"] == 2
    assert await _students(world) == {"S1001": ("Berg", False), "S1002": ("Dal", False)}

    again = await run_libcard(database_url, tmp_path, "sync", "registry", str(students))
    assert again.returncode == 0, again.stderr
    assert _counts(again.stderr)["unchanged"] == 2
    assert _counts(again.stderr)["created"] == 0
    assert "0 change(s)." in again.stderr


async def test_json_lines_by_extension_and_a_full_export(
    world: World, database_url: str, tmp_path: Path
) -> None:
    students = tmp_path / "students.csv"
    students.write_text(CSV, encoding="utf-8")
    assert (
        await run_libcard(database_url, tmp_path, "sync", "registry", str(students))
    ).returncode == 0
    export = tmp_path / "export.jsonl"
    export.write_text('{"registry_id": "S1001", "last_name": "Berg-Holm"}\n', encoding="utf-8")

    ran = await run_libcard(
        database_url, tmp_path, "sync", "registry", str(export), "--full", "--institution", "nordby"
    )

    assert ran.returncode == 0, ran.stderr
    counts = _counts(ran.stderr)
    assert (counts["rows read"], counts["updated"], counts["newly missing"]) == (1, 1, 1)
    assert await _students(world) == {"S1001": ("Berg-Holm", False), "S1002": ("Dal", True)}


async def test_a_terminal_sees_a_progress_bar(
    world: World, database_url: str, tmp_path: Path
) -> None:
    students = tmp_path / "students.csv"
    students.write_text(CSV, encoding="utf-8")
    terminal = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}  # as a terminal shows it

    ran = await run_libcard(
        database_url, tmp_path, "sync", "registry", str(students), extra_env=terminal
    )

    assert ran.returncode == 0, ran.stderr
    bar = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", ran.stderr)  # without the terminal's codes
    assert re.search(r"Registry rows .*100%", bar), bar


async def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(
    world: World, database_url: str, tmp_path: Path
) -> None:
    misspelt = tmp_path / "misspelt.csv"
    misspelt.write_text("registry_id;first_nam;last_name\nS1003;Cai;Eng\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("registry_id;first_name;last_name\nS1004;Jørgen;Lund\n".encode("latin-1"))
    good = tmp_path / "good.csv"
    good.write_text(CSV, encoding="utf-8")

    for args, code, message in (
        ((str(misspelt),), 1, "Unknown column(s) first_nam"),
        ((str(latin1),), 1, "The file is not UTF-8 text; nothing was changed."),
        ((str(good), "--institution", "elsewhere"), 1, "No institution with code 'elsewhere'."),
        ((str(tmp_path / "absent.csv"),), 2, "There is no file"),
    ):
        ran = await run_libcard(database_url, tmp_path, "sync", "registry", *args)
        assert ran.returncode == code, (args, ran.stderr)
        assert message in " ".join(ran.stderr.split()), (args, ran.stderr)
    assert await _students(world) == {}
