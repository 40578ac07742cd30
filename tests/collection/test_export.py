"""`libcard collection export`: the agency's new cases as CSV, each case exported once."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from libcard.cli_collection import register
from libcard.collection.export import COLUMNS
from libcard.config import get_settings
from libcard.context import ActorKind
from libcard.fees.rules import FeeType
from libcard.fees.service import charge
from tests.collection.conftest import AGENCY, Collection


@pytest.fixture
def command(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[typer.Typer]:
    """The `collection` commands on the test database, configured as an operator would."""
    for name in ("LIBCARD_PEPPERS", "LIBCARD_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIBCARD_DATABASE_URL", database_url)
    monkeypatch.setenv("LIBCARD_PEPPER_FILE", str(tmp_path / "secrets.json"))
    get_settings.cache_clear()
    app = typer.Typer()
    app.command("unused")(lambda: None)  # a group, so that `collection` is a sub-command
    register(app)
    yield app
    get_settings.cache_clear()


async def _run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_the_export_lists_each_handed_over_case_once(
    command: typer.Typer, collection: Collection, tmp_path: Path
) -> None:
    patron, case_id = await collection.handed_over(15000)
    # A second fee on the same case's patron, noticed and handed over with it: two lines.
    other = await collection.patron(8000)
    await collection.charge(other.id, 7000)
    collection.world.runtime.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]
    await collection.notices()
    collection.world.runtime.clock.advance(timedelta(days=8))  # type: ignore[attr-defined]
    await collection.handover()
    [other_case] = await collection.cases(other.id)
    assert other_case.state == "handed_over"

    out = tmp_path / "nordic.csv"
    code, _, err = await _run(
        command, "collection", "export", "--agency", AGENCY, "--out", str(out)
    )
    assert code == 0, err
    assert "2 case(s), 3 line(s)" in err
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == COLUMNS
    first = [row for row in rows if row["case_id"] == str(case_id)]
    assert len(first) == 1
    assert (first[0]["patron_id"], first[0]["card_number"]) == (str(patron.id), patron.ecard)
    assert (first[0]["amount"], first[0]["currency"]) == ("150.00", "DKK")
    assert first[0]["fee_amount"] == "150.00"
    assert first[0]["fee_date"] == "2026-01-05"
    assert first[0]["handed_over_on"] == "2026-02-12"
    second = [row for row in rows if row["case_id"] == str(other_case.id)]
    assert sorted(row["fee_amount"] for row in second) == ["70.00", "80.00"]
    assert {row["amount"] for row in second} == {"150.00"}

    # Exported cases are not exported again; another agency's export is empty.
    code, again, err = await _run(command, "collection", "export", "--agency", AGENCY)
    assert code == 0, err
    assert list(csv.reader(io.StringIO(again))) == [list(COLUMNS)]
    assert "0 case(s)" in err
    [case] = await collection.cases(patron.id)
    assert case.export_batch is not None


async def test_cells_that_look_like_formulas_are_defused(
    command: typer.Typer, collection: Collection, tmp_path: Path
) -> None:
    world = collection.world
    patron = await world.patron("external", street="=cmd|' /C calc'!A0")
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        await charge(ctx, patron.id, FeeType.OTHER, 15000, '=HYPERLINK("http://x")')
    world.runtime.clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
    await collection.notices()
    world.runtime.clock.advance(timedelta(days=8))  # type: ignore[attr-defined]
    await collection.handover()
    out = tmp_path / "export.csv"
    code, _, err = await _run(
        command, "collection", "export", "--agency", AGENCY, "--out", str(out)
    )
    assert code == 0, err
    [row] = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert row["fee_description"] == '\'=HYPERLINK("http://x")'
    assert row["street"].startswith("'=")
    code, _, err = await _run(command, "collection", "export", "--agency", " ")
    assert code == 1
    assert "Name the agency" in err
