"""Stateless fuzzing of every operation in the OpenAPI schema: no input may cause a 5xx.

Schemathesis loads the schema from the ASGI app itself and sends generated requests, valid
and invalid ones, with a deployment-wide admin token, so that requests get past
authentication into validation, the services and the database. It runs on SQLite only: the
point is the web layer's handling of input, and one backend keeps the run short.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema
from sqlalchemy import update

from libcard.access.models import ApiToken
from libcard.access.scopes import ALL_SCOPES
from libcard.access.service import create_token
from libcard.config import Settings
from libcard.context import ActorKind
from libcard.fees.rules import FeeType
from libcard.fees.service import charge
from libcard.kit.clock import FrozenClock
from libcard.policy.service import create_group, create_institution
from libcard.runtime import Runtime
from libcard.web.app import create_app
from tests.conftest import TEST_KEYS, World

# Examples per operation and mode; a deeper run sets LIBCARD_TEST_FUZZ_EXAMPLES (e.g. 200).
MAX_EXAMPLES = int(os.environ.get("LIBCARD_TEST_FUZZ_EXAMPLES", "15"))
# The admin token's id is moved far from the small ids the fuzzer likes, so that fuzzing
# DELETE /tokens/{token_id} does not revoke the token the other operations run with.
ADMIN_TOKEN_ID = 770_001_234


async def _seed(runtime: Runtime) -> str:
    """Some data for the fuzzer to hit: an institution, groups, patrons, cards and fees."""
    async with runtime.unit() as ctx:
        institution = await create_institution(
            ctx, code="nordby", name="Nordby Library", card_prefix="2770"
        )
        groups = {}
        for code in ("student", "employee", "external"):
            group = await create_group(ctx, institution.id, code=code, name=code.title())
            groups[code] = group.id
    world = World(runtime=runtime, institution_id=institution.id, groups=groups)
    ok = await world.patron(physical=True)
    await world.patron("student")
    await world.patron(activate=False)
    async with runtime.unit() as ctx:
        await charge(ctx, ok.id, FeeType.OVERDUE, 12_000, "Overdue")
        token, secret = await create_token(
            ctx,
            name="fuzz admin",
            actor_kind=ActorKind.ADMIN,
            scopes=ALL_SCOPES,
            institution_id=None,
        )
        await ctx.session.execute(
            update(ApiToken).where(ApiToken.id == token.id).values(id=ADMIN_TOKEN_ID)
        )
    # The fuzzer's requests run on schemathesis's own event loop: start its pool afresh there.
    await runtime.engine.dispose()
    return secret


@pytest.fixture(scope="module")
def fuzz_schema(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BaseSchema]:
    directory = tmp_path_factory.mktemp("fuzz")
    path = directory / "libcard.sqlite3"
    shutil.copyfile(sqlite_template, path)
    runtime = Runtime.build(
        Settings(
            database_url=f"sqlite+aiosqlite:///{path}",
            peppers=TEST_KEYS,  # type: ignore[arg-type]
            pepper_file=directory / "unused-secrets.json",
        ),
        clock=FrozenClock(),
    )
    secret = asyncio.run(_seed(runtime))
    app = create_app(runtime)
    config = SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": f"Bearer {secret}"},
            "generation": {"with-security-parameters": False},
        }
    )
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, config=config)
    asyncio.run(runtime.close())


# One Hypothesis run per operation and mode, driven from a plain test: schemathesis's pytest
# integration (`schemathesis.pytest.from_fixture`) fails on pytest 9 (`Function._nodeid`).
def _fuzz(operation: APIOperation, mode: GenerationMode, seen: Counter[int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=[not_a_server_error])
        seen[response.status_code] += 1

    run()


def test_no_input_causes_a_server_error(fuzz_schema: BaseSchema) -> None:
    """Every operation, with data that fits its schema and with data that does not."""
    failures: list[str] = []
    operations = 0
    seen: Counter[int] = Counter()
    for result in fuzz_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, seen)
            except Unsatisfiable:
                # No invalid request exists for this operation (no parameters, or only a path
                # string that anything fits): nothing to fuzz in this mode.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as error:
                failures.append(f"{operation.label} ({mode.value}): {error!r}"[:2000])
    assert operations >= 25, "the schema lost operations"
    # The token works: requests got past authentication into validation and the services.
    assert sum(n for status, n in seen.items() if 200 <= status < 300) > 20, seen
    assert seen[401] < sum(seen.values()) / 10, seen
    assert not failures, "\n\n".join(failures)
