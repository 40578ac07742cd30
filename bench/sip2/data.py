"""The SIP2 benchmark's database: `bench.load`'s patrons (activated e-cards, PINs, a realistic
share of fees and blocks) in a fresh PostgreSQL database of its own, plus one branch and one
self-checkout terminal made through the real services, as an administrator would."""

from __future__ import annotations

from dataclasses import dataclass

from bench.load import Loaded, Target, describe, discard, load, prepare
from libcard.context import Actor, ActorKind
from libcard.kit.secrets import configure_password_hashing
from libcard.policy.branches import create_branch, create_terminal
from libcard.policy.models import Institution
from libcard.runtime import Runtime

DATABASE = "libcard_bench_sip2"
TERMINAL_LOGIN = "bench-selfcheck-1"
ADMIN = Actor(kind=ActorKind.ADMIN, label="bench admin")


@dataclass(frozen=True)
class Setup:
    """A loaded database and what a self-checkout machine needs to talk to it."""

    target: Target
    loaded: Loaded
    institution_code: str
    terminal_login: str
    terminal_password: str
    description: str


async def set_up(
    patrons: int, *, database: str = DATABASE, seed: int = 1, cheap_logins: bool = False
) -> Setup:
    """A fresh database with `patrons` patrons, one branch and one terminal. `cheap_logins`
    hashes the terminal's password at the test suite's Argon2 cost: a smoke run's few hundred
    logins then take milliseconds; logins are not what the benchmark measures."""
    target = await prepare("postgres", database=database)
    try:
        runtime = Runtime.build(target.settings())
        try:
            loaded = await load(runtime, patrons, seed=seed)
            if cheap_logins:
                configure_password_hashing(time_cost=1, memory_kib=1024)
            async with runtime.unit(ADMIN) as ctx:
                institution = await ctx.session.get(Institution, loaded.institution_id)
                assert institution is not None
                branch = await create_branch(ctx, institution.id, code="main", name="Main Library")
                _, password = await create_terminal(
                    ctx,
                    institution.id,
                    branch_id=branch.id,
                    login=TERMINAL_LOGIN,
                    name="Self-checkout by the entrance",
                    language="en",
                )
                code = institution.code
        finally:
            await runtime.close()
    except BaseException:
        await discard(target)
        raise
    return Setup(
        target=target,
        loaded=loaded,
        institution_code=code,
        terminal_login=TERMINAL_LOGIN,
        terminal_password=password,
        description=describe(loaded, "postgres"),
    )
