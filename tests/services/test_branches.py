"""Branches and self-checkout terminals: who manages them, and how a terminal logs in (SIP2)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from libcard.audit.models import AuditEvent
from libcard.audit.service import events
from libcard.context import Actor, ActorKind, Ctx
from libcard.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LibcardError,
    NotFound,
    TooManyAttempts,
    WrongSecret,
)
from libcard.kit.clock import FrozenClock
from libcard.policy.branches import (
    create_branch,
    create_terminal,
    get_branch,
    get_terminal,
    list_branches,
    list_terminals,
    reset_terminal_password,
    terminal_login,
    update_branch,
    update_terminal,
)
from libcard.policy.models import Branch, Terminal
from libcard.policy.service import create_institution
from tests.conftest import World

Attempt = Callable[[Ctx], Awaitable[Any]]


async def _branch(world: World, code: str = "main", name: str = "Main Library") -> Branch:
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        return await create_branch(ctx, world.institution_id, code=code, name=name)


async def _terminal(
    world: World, branch_id: int, login: str = "sco-main-1"
) -> tuple[Terminal, str]:
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        return await create_terminal(
            ctx, world.institution_id, branch_id=branch_id, login=login, name="Self-checkout 1"
        )


async def _other_institution(world: World) -> int:
    async with world.runtime.unit() as ctx:
        other = await create_institution(
            ctx, code="sydby", name="Sydby Library", card_prefix="2771", currency="DKK"
        )
        return other.id


async def _log_in(world: World, login: str, password: str) -> Terminal:
    # The SIP2 server of a later issue logs terminals in as libcard itself.
    async with world.runtime.unit() as ctx:
        return await terminal_login(ctx, login, password)


async def _login_error(world: World, login: str, password: str) -> LibcardError:
    with pytest.raises(LibcardError) as caught:
        await _log_in(world, login, password)
    return caught.value


async def test_an_administrator_creates_lists_changes_and_closes_branches(world: World) -> None:
    admin = world.actor(ActorKind.ADMIN)
    async with world.runtime.unit(admin) as ctx:
        north = await create_branch(
            ctx, world.institution_id, code="north", name="  North   Branch ", address="Nordvej 1"
        )
        await create_branch(ctx, world.institution_id, code="MAIN_1", name="Main Library")
    assert (north.code, north.name, north.address, north.closed_at) == (
        "north",
        "North Branch",
        "Nordvej 1",
        None,
    )
    async with world.runtime.unit(world.actor(ActorKind.DESK)) as ctx:
        names = [b.name for b in await list_branches(ctx, world.institution_id)]
        assert (await get_branch(ctx, north.id)).code == "north"
    assert names == ["Main Library", "North Branch"]  # by name

    async with world.runtime.unit(admin) as ctx:
        changed = await update_branch(ctx, north.id, name="Nordby North", address="")
    assert (changed.name, changed.address) == ("Nordby North", None)

    async with world.runtime.unit(admin) as ctx:
        closed = await update_branch(ctx, north.id, closed=True)
    assert closed.closed_at is not None
    async with world.runtime.unit() as ctx:
        open_only = await list_branches(ctx, world.institution_id, include_closed=False)
        everything = await list_branches(ctx, world.institution_id)
    assert [b.code for b in open_only] == ["MAIN_1"]
    assert [b.code for b in everything] == ["MAIN_1", "north"]

    async with world.runtime.unit(admin) as ctx:
        reopened = await update_branch(ctx, north.id, closed=False)
    assert reopened.closed_at is None


async def test_a_branch_code_is_unique_within_its_institution(world: World) -> None:
    await _branch(world, "main")
    with pytest.raises(Conflict) as caught:
        await _branch(world, "main", "Another Main")
    assert caught.value.code == "branch_code_taken"
    other_id = await _other_institution(world)
    async with world.runtime.unit() as ctx:  # another library may use the same code
        await create_branch(ctx, other_id, code="main", name="Sydby Main")


@pytest.mark.parametrize(
    ("code", "name", "address", "error"),
    [
        ("", "Main", None, "branch_code"),
        ("main library", "Main", None, "branch_code"),
        ("main|1", "Main", None, "branch_code"),
        ("x" * 33, "Main", None, "branch_code"),
        ("main", "   ", None, "branch_name"),
        ("main", "x" * 201, None, "branch_name"),
        ("main", "Main", "x" * 301, "branch_address"),
    ],
)
async def test_a_bad_branch_is_refused(
    world: World, code: str, name: str, address: str | None, error: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
            await create_branch(ctx, world.institution_id, code=code, name=name, address=address)
    assert caught.value.code == error
    async with world.runtime.unit() as ctx:
        assert await list_branches(ctx, world.institution_id) == []


async def test_the_desk_cannot_manage_branches_or_terminals(world: World) -> None:
    branch = await _branch(world)
    terminal, _ = await _terminal(world, branch.id)
    desk = world.actor(ActorKind.DESK)
    attempts: list[Attempt] = [
        lambda ctx: create_branch(ctx, world.institution_id, code="east", name="East"),
        lambda ctx: update_branch(ctx, branch.id, closed=True),
        lambda ctx: create_terminal(
            ctx, world.institution_id, branch_id=branch.id, login="sco-2", name="Two"
        ),
        lambda ctx: update_terminal(ctx, terminal.id, disabled=True),
        lambda ctx: reset_terminal_password(ctx, terminal.id),
    ]
    for attempt in attempts:
        with pytest.raises(Forbidden) as caught:
            async with world.runtime.unit(desk) as ctx:
                await attempt(ctx)
        assert caught.value.code == "forbidden_policy"
    async with world.runtime.unit() as ctx:
        assert [b.code for b in await list_branches(ctx, world.institution_id)] == ["main"]
        assert (await get_branch(ctx, branch.id)).closed_at is None
        assert (await get_terminal(ctx, terminal.id)).disabled_at is None


async def test_an_administrator_of_another_institution_sees_nothing_here(world: World) -> None:
    branch = await _branch(world)
    terminal, _ = await _terminal(world, branch.id)
    other_id = await _other_institution(world)
    stranger = Actor(kind=ActorKind.ADMIN, label="admin of Sydby", institution_id=other_id)
    async with world.runtime.unit() as ctx:
        their_branch = await create_branch(ctx, other_id, code="syd", name="Sydby Main")

    with pytest.raises(Forbidden):
        async with world.runtime.unit(stranger) as ctx:
            await create_branch(ctx, world.institution_id, code="east", name="East")
    with pytest.raises(Forbidden):
        async with world.runtime.unit(stranger) as ctx:
            await create_terminal(
                ctx, world.institution_id, branch_id=branch.id, login="sco-x", name="X"
            )
    not_found: list[Attempt] = [
        lambda ctx: list_branches(ctx, world.institution_id),
        lambda ctx: get_branch(ctx, branch.id),
        lambda ctx: update_branch(ctx, branch.id, closed=True),
        lambda ctx: list_terminals(ctx, world.institution_id),
        lambda ctx: get_terminal(ctx, terminal.id),
        lambda ctx: update_terminal(ctx, terminal.id, disabled=True),
        lambda ctx: reset_terminal_password(ctx, terminal.id),
        # Their own terminal cannot be placed at our branch, nor ours moved to theirs.
        lambda ctx: create_terminal(
            ctx, other_id, branch_id=branch.id, login="sco-syd", name="Syd"
        ),
    ]
    for attempt in not_found:
        with pytest.raises(NotFound):
            async with world.runtime.unit(stranger) as ctx:
                await attempt(ctx)
    with pytest.raises(NotFound) as caught:
        async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
            await update_terminal(ctx, terminal.id, branch_id=their_branch.id)
    assert caught.value.code == "branch_not_found"
    async with world.runtime.unit() as ctx:
        assert (await get_branch(ctx, branch.id)).closed_at is None
        assert (await get_terminal(ctx, terminal.id)).disabled_at is None


async def test_a_new_terminal_logs_in_with_the_password_it_was_given(
    world: World, clock: FrozenClock
) -> None:
    branch = await _branch(world)
    terminal, password = await _terminal(world, branch.id)
    assert len(password) == 20
    assert password.isascii()
    assert password.isalnum()  # SIP2 fields cannot carry "|"
    assert terminal.password_hash != password
    assert terminal.password_hash.startswith("$argon2id$")
    assert (terminal.encoding, terminal.language, terminal.last_login_at) == ("cp850", None, None)

    clock.advance(timedelta(minutes=5))
    logged_in = await _log_in(world, "sco-main-1", password)
    assert logged_in.id == terminal.id
    async with world.runtime.unit() as ctx:
        assert (await get_terminal(ctx, terminal.id)).last_login_at == clock.now()
        assert [t.login for t in await list_terminals(ctx, world.institution_id)] == ["sco-main-1"]


async def test_a_terminal_login_is_checked_and_unique(world: World) -> None:
    branch = await _branch(world)
    await _terminal(world, branch.id, "sco-1")
    admin = world.actor(ActorKind.ADMIN)
    for login, error in (
        ("ab", "terminal_login"),
        ("sco 2", "terminal_login"),
        ("a|bc", "terminal_login"),
    ):
        with pytest.raises(InvalidInput) as bad:
            async with world.runtime.unit(admin) as ctx:
                await create_terminal(
                    ctx, world.institution_id, branch_id=branch.id, login=login, name="T"
                )
        assert bad.value.code == error
    for encoding, language, error in (
        ("ascii", None, "terminal_encoding"),
        ("cp850", "fr", "terminal_language"),
    ):
        with pytest.raises(InvalidInput) as bad:
            async with world.runtime.unit(admin) as ctx:
                await create_terminal(
                    ctx,
                    world.institution_id,
                    branch_id=branch.id,
                    login="sco-2",
                    name="T",
                    encoding=encoding,
                    language=language,
                )
        assert bad.value.code == error
    # Unique across the deployment: the SIP2 login names no institution.
    other_id = await _other_institution(world)
    async with world.runtime.unit() as ctx:
        their_branch = await create_branch(ctx, other_id, code="syd", name="Sydby Main")
    with pytest.raises(Conflict) as taken:
        async with world.runtime.unit() as ctx:
            await create_terminal(
                ctx, other_id, branch_id=their_branch.id, login="sco-1", name="Syd 1"
            )
    assert taken.value.code == "terminal_login_taken"


async def test_wrong_password_and_unknown_login_are_one_answer(world: World) -> None:
    branch = await _branch(world)
    await _terminal(world, branch.id)
    wrong = await _login_error(world, "sco-main-1", "not-the-password")
    unknown = await _login_error(world, "sco-nowhere", "not-the-password")
    assert isinstance(wrong, WrongSecret)
    assert isinstance(unknown, WrongSecret)
    assert (wrong.code, wrong.message) == (unknown.code, unknown.message)
    assert wrong.code == "terminal_login_failed"


async def test_a_disabled_terminal_cannot_log_in(world: World) -> None:
    branch = await _branch(world)
    terminal, password = await _terminal(world, branch.id)
    admin = world.actor(ActorKind.ADMIN)
    async with world.runtime.unit(admin) as ctx:
        disabled = await update_terminal(ctx, terminal.id, disabled=True)
    assert disabled.disabled_at is not None
    error = await _login_error(world, "sco-main-1", password)
    assert isinstance(error, WrongSecret)
    assert error.code == "terminal_login_failed"
    async with world.runtime.unit(admin) as ctx:
        await update_terminal(ctx, terminal.id, disabled=False)
    assert (await _log_in(world, "sco-main-1", password)).id == terminal.id


async def test_a_reset_password_replaces_the_old_one(world: World) -> None:
    branch = await _branch(world)
    terminal, old = await _terminal(world, branch.id)
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        new = await reset_terminal_password(ctx, terminal.id)
    assert new != old
    assert len(new) == 20
    assert new.isalnum()
    error = await _login_error(world, "sco-main-1", old)
    assert error.code == "terminal_login_failed"
    assert (await _log_in(world, "sco-main-1", new)).id == terminal.id


async def test_the_eleventh_attempt_in_the_window_is_refused(
    world: World, clock: FrozenClock
) -> None:
    branch = await _branch(world)
    terminal, password = await _terminal(world, branch.id)
    for _ in range(10):
        with pytest.raises(WrongSecret):
            await _log_in(world, "sco-main-1", "guess")
        clock.advance(timedelta(seconds=30))
    with pytest.raises(TooManyAttempts):
        await _log_in(world, "sco-main-1", password)  # even the right password
    # Unknown logins are throttled the same way, so that the limit tells nothing either.
    for _ in range(10):
        with pytest.raises(WrongSecret):
            await _log_in(world, "sco-unknown", "guess")
    with pytest.raises(TooManyAttempts):
        await _log_in(world, "sco-unknown", "guess")
    clock.advance(timedelta(minutes=15))
    assert (await _log_in(world, "sco-main-1", password)).id == terminal.id


async def test_a_success_clears_the_failures(world: World) -> None:
    branch = await _branch(world)
    _, password = await _terminal(world, branch.id)
    for _ in range(9):
        with pytest.raises(WrongSecret):
            await _log_in(world, "sco-main-1", "guess")
    await _log_in(world, "sco-main-1", password)
    for _ in range(9):
        with pytest.raises(WrongSecret):
            await _log_in(world, "sco-main-1", "guess")
    await _log_in(world, "sco-main-1", password)


async def test_no_terminal_goes_to_a_closed_branch(world: World) -> None:
    main = await _branch(world, "main")
    old = await _branch(world, "old", "Old Branch")
    terminal, _ = await _terminal(world, main.id)
    admin = world.actor(ActorKind.ADMIN)
    async with world.runtime.unit(admin) as ctx:
        await update_branch(ctx, old.id, closed=True)
    with pytest.raises(InvalidInput) as created:
        await _terminal(world, old.id, "sco-old-1")
    assert created.value.code == "branch_closed"
    with pytest.raises(InvalidInput) as moved:
        async with world.runtime.unit(admin) as ctx:
            await update_terminal(ctx, terminal.id, branch_id=old.id)
    assert moved.value.code == "branch_closed"
    with pytest.raises(NotFound) as missing:
        await _terminal(world, 999_999, "sco-none-1")
    assert missing.value.code == "branch_not_found"
    async with world.runtime.unit() as ctx:
        assert (await get_terminal(ctx, terminal.id)).branch_id == main.id
        assert [t.login for t in await list_terminals(ctx, world.institution_id)] == ["sco-main-1"]


async def test_terminal_settings_change(world: World) -> None:
    main = await _branch(world, "main")
    east = await _branch(world, "east", "East Branch")
    terminal, _ = await _terminal(world, main.id)
    admin = world.actor(ActorKind.ADMIN)
    async with world.runtime.unit(admin) as ctx:
        await update_terminal(
            ctx, terminal.id, name="Kiosk", branch_id=east.id, encoding="utf-8", language="de"
        )
    async with world.runtime.unit(admin) as ctx:
        # Leaving `language` out keeps it; giving None clears it.
        kept = await update_terminal(ctx, terminal.id, name="Kiosk East")
        assert kept.language == "de"
    async with world.runtime.unit(admin) as ctx:
        cleared = await update_terminal(ctx, terminal.id, language=None)
    assert (cleared.name, cleared.branch_id, cleared.encoding, cleared.language) == (
        "Kiosk East",
        east.id,
        "utf-8",
        None,
    )
    with pytest.raises(InvalidInput) as bad:
        async with world.runtime.unit(admin) as ctx:
            await update_terminal(ctx, terminal.id, encoding="utf-16")
    assert bad.value.code == "terminal_encoding"


async def test_changes_are_audited_without_the_password(world: World) -> None:
    admin = world.actor(ActorKind.ADMIN, id="staff:1")
    async with world.runtime.unit(admin) as ctx:
        branch = await create_branch(ctx, world.institution_id, code="main", name="Main")
        terminal, first = await create_terminal(
            ctx, world.institution_id, branch_id=branch.id, login="sco-main-1", name="One"
        )
    async with world.runtime.unit(admin) as ctx:
        await update_branch(ctx, branch.id, name="Main Library", address="Torvet 1")
        await update_terminal(ctx, terminal.id, language="en", disabled=True)
        second = await reset_terminal_password(ctx, terminal.id)
    async with world.runtime.unit(admin) as ctx:
        await update_terminal(ctx, terminal.id, disabled=False)
        await update_branch(ctx, branch.id, name="Main Library")  # no change, no event
    await _log_in(world, "sco-main-1", second)
    await _login_error(world, "sco-main-1", first)

    async with world.runtime.unit(admin) as ctx:
        log = await events(ctx, limit=500)
        final = await get_terminal(ctx, terminal.id)
    mine = [(e.action, e.subject_kind, e.subject_id) for e in log if e.actor_id == "staff:1"]
    assert list(reversed(mine)) == [
        ("branch:create", "branch", str(branch.id)),
        ("terminal:create", "terminal", str(terminal.id)),
        ("branch:update", "branch", str(branch.id)),
        ("terminal:update", "terminal", str(terminal.id)),
        ("terminal:reset_password", "terminal", str(terminal.id)),
        ("terminal:update", "terminal", str(terminal.id)),
    ]
    by_action = {e.action: e for e in reversed(log)}  # the newest of each action
    assert all(e.institution_id == world.institution_id for e in log if e.actor_id == "staff:1")
    assert by_action["branch:create"].details == {"code": "main", "name": "Main"}
    assert by_action["terminal:create"].details["login"] == "sco-main-1"
    assert by_action["branch:update"].details["fields"] == ["address", "name"]
    assert by_action["terminal:update"].details["fields"] == ["disabled"]

    async with world.runtime.unit() as ctx:
        everything = (await ctx.session.scalars(select(AuditEvent))).all()
    assert everything
    for event in everything:
        text = json.dumps(event.details)
        for secret in (first, second, final.password_hash):
            assert secret not in text


async def test_terminals_of_a_closed_branch_cannot_log_in_until_it_reopens(world: World) -> None:
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        branch = await create_branch(ctx, world.institution_id, code="east", name="East Branch")
        terminal, password = await create_terminal(
            ctx, world.institution_id, branch_id=branch.id, login="east-sco-1", name="East 1"
        )
        await update_branch(ctx, branch.id, closed=True)
    with pytest.raises(WrongSecret):
        async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
            await terminal_login(ctx, "east-sco-1", password)
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        await update_branch(ctx, branch.id, closed=False)
    async with world.runtime.unit(world.actor(ActorKind.TERMINAL)) as ctx:
        assert (await terminal_login(ctx, "east-sco-1", password)).id == terminal.id
