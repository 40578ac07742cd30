"""Staff users (no HTTP): who manages them, the password step and the authenticator step of
their login, recovery codes, desk sessions, and the sealed TOTP secret."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from libcard.access.sessions import SessionRules, touch
from libcard.audit.models import AuditEvent
from libcard.context import SYSTEM_ACTOR, Actor, ActorKind, Ctx
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
from libcard.kit.secrets import Keyring
from libcard.policy.branches import create_branch, update_branch
from libcard.policy.models import Branch
from libcard.policy.service import create_institution
from libcard.staff import totp
from libcard.staff.login import (
    Desk,
    Enrolment,
    begin_enrolment,
    change_own_password,
    confirm_enrolment,
    find_desk,
    give_second_factor,
    log_in,
    log_out,
    recovery_codes_left,
)
from libcard.staff.models import StaffSession, StaffUser
from libcard.staff.service import (
    StaffChanges,
    create_staff,
    get_staff,
    list_staff,
    reset_second_factor,
    set_temporary_password,
    staff_actor,
    update_staff,
)
from tests.conftest import World

PASSWORD = "Lending-Tuesday-Quiet-7"
NEW_PASSWORD = "Autumn-Reading-Lamp-9"
RULES = SessionRules(idle=timedelta(minutes=30), lifetime=timedelta(hours=10))
ADDRESS = "192.0.2.10"
STEP = timedelta(seconds=totp.STEP_SECONDS)

Attempt = Callable[[Ctx], Awaitable[Any]]


@dataclass
class Enrolled:
    """A staff user past their first login: the authenticator set up, a verified session."""

    staff: StaffUser
    totp_secret: str
    recovery_codes: list[str]
    desk: Desk
    cookie: str


async def _branch(world: World, code: str = "main", name: str = "Main Library") -> Branch:
    async with world.runtime.unit() as ctx:
        return await create_branch(ctx, world.institution_id, code=code, name=name)


async def _other_institution(world: World) -> int:
    async with world.runtime.unit() as ctx:
        other = await create_institution(
            ctx, code="sydby", name="Sydby Library", card_prefix="2771", currency="DKK"
        )
        return other.id


async def _staff(
    world: World,
    username: str = "sam.berg",
    role: str = "desk",
    *,
    display_name: str = "Sam Berg",
    institution_id: int | None = None,
    branch_id: int | None = None,
    must_change_password: bool = False,
) -> StaffUser:
    async with world.runtime.unit() as ctx:
        return await create_staff(
            ctx,
            institution_id or world.institution_id,
            username=username,
            display_name=display_name,
            role=role,
            password=PASSWORD,
            branch_id=branch_id,
            must_change_password=must_change_password,
        )


async def _load(world: World, staff_id: int) -> StaffUser:
    async with world.runtime.unit() as ctx:
        return await get_staff(ctx, staff_id)


async def _log_in(
    world: World, username: str = "sam.berg", password: str = PASSWORD, address: str = ADDRESS
) -> tuple[Desk, str]:
    async with world.runtime.unit() as ctx:
        return await log_in(ctx, username, password, address, RULES)


async def _refusal(
    world: World, username: str = "sam.berg", password: str = PASSWORD, address: str = ADDRESS
) -> LibcardError:
    with pytest.raises(LibcardError) as caught:
        await _log_in(world, username, password, address)
    return caught.value


async def _find(world: World, cookie: str) -> Desk | None:
    async with world.runtime.unit() as ctx:
        return await find_desk(ctx, cookie, RULES)


async def _begin(world: World, pending: Desk) -> Enrolment:
    async with world.runtime.unit() as ctx:
        return await begin_enrolment(ctx, pending.session.id)


async def _confirm(world: World, pending: Desk, code: str) -> tuple[Desk, str, list[str]]:
    async with world.runtime.unit() as ctx:
        return await confirm_enrolment(ctx, pending.session.id, code, RULES)


async def _second(world: World, pending: Desk, code: str) -> tuple[Desk, str]:
    async with world.runtime.unit() as ctx:
        return await give_second_factor(ctx, pending.session.id, code, RULES)


def _code(secret: str, clock: FrozenClock, steps: int = 0) -> str:
    """The code the user's phone shows now, or `steps` 30-second steps later (or earlier)."""
    return totp.code_at(secret, clock.now().timestamp() + steps * totp.STEP_SECONDS)


def _wrong_code(secret: str, clock: FrozenClock) -> str:
    """Six digits that are no code of this step, the one before or the one after."""
    valid = {_code(secret, clock, steps) for steps in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in valid)


async def _enrolled(world: World, clock: FrozenClock, staff: StaffUser | None = None) -> Enrolled:
    """`staff`, or a new desk user sam.berg, after their first login."""
    staff = staff or await _staff(world)
    pending, _ = await _log_in(world, staff.username)
    enrolment = await _begin(world, pending)
    desk, cookie, codes = await _confirm(world, pending, _code(enrolment.secret, clock))
    return Enrolled(await _load(world, desk.staff.id), enrolment.secret, codes, desk, cookie)


async def _verified(world: World, clock: FrozenClock, user: Enrolled) -> tuple[Desk, str]:
    """Another full login; half a minute later, so that a fresh code is on the phone."""
    clock.advance(STEP)
    pending, _ = await _log_in(world, user.staff.username)
    return await _second(world, pending, _code(user.totp_secret, clock))


async def _audit(world: World, action: str) -> list[AuditEvent]:
    async with world.runtime.unit() as ctx:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list((await ctx.session.scalars(query)).all())


# Creating staff users


@pytest.mark.parametrize("who", ["admin", "system"])
async def test_an_administrator_or_libcard_itself_creates_a_staff_user(
    world: World, clock: FrozenClock, who: str
) -> None:
    branch = await _branch(world)
    actor = world.actor(ActorKind.ADMIN) if who == "admin" else SYSTEM_ACTOR
    async with world.runtime.unit(actor) as ctx:
        staff = await create_staff(
            ctx,
            world.institution_id,
            username="  Sam.Berg ",
            display_name="  Sam   Berg ",
            role="supervisor",
            password=PASSWORD,
            branch_id=branch.id,
            email="Sam.Berg@Example.org",
            preferred_language="da",
        )
    loaded = await _load(world, staff.id)
    assert (loaded.username, loaded.display_name, loaded.email) == (
        "sam.berg",
        "Sam Berg",
        "sam.berg@example.org",
    )
    assert (loaded.role, loaded.institution_id, loaded.branch_id) == (
        "supervisor",
        world.institution_id,
        branch.id,
    )
    assert loaded.preferred_language == "da"
    assert loaded.password_hash != PASSWORD
    assert loaded.password_hash.startswith("$argon2id$")
    assert loaded.must_change_password is False
    assert (loaded.totp_secret, loaded.totp_enrolled_at, loaded.disabled_at) == (None, None, None)
    assert loaded.created_at == loaded.password_changed_at == clock.now()
    # The mixed-case name given at creation is the same user name at login.
    desk, _ = await _log_in(world, "SAM.BERG")
    assert desk.staff.id == staff.id


@pytest.mark.parametrize("kind", [ActorKind.DESK, ActorKind.SUPERVISOR])
async def test_desk_and_supervisor_may_not_manage_staff(world: World, kind: ActorKind) -> None:
    existing = await _staff(world, "kim.holm", display_name="Kim Holm")
    actor = world.actor(kind, id="staff:999")
    attempts: list[Attempt] = [
        lambda ctx: create_staff(
            ctx,
            world.institution_id,
            username="sam.berg",
            display_name="Sam Berg",
            role="desk",
            password=PASSWORD,
        ),
        lambda ctx: list_staff(ctx, world.institution_id),
        lambda ctx: update_staff(ctx, existing.id, StaffChanges(role="admin")),
        lambda ctx: update_staff(ctx, existing.id, StaffChanges(disabled=True)),
        lambda ctx: set_temporary_password(ctx, existing.id),
        lambda ctx: reset_second_factor(ctx, existing.id),
    ]
    for attempt in attempts:
        with pytest.raises(Forbidden) as caught:
            async with world.runtime.unit(actor) as ctx:
                await attempt(ctx)
        assert caught.value.code == "forbidden_staff"
    async with world.runtime.unit() as ctx:
        everyone = await list_staff(ctx, world.institution_id)
    assert [(s.username, s.role, s.disabled_at) for s in everyone] == [("kim.holm", "desk", None)]
    assert (await _log_in(world, "kim.holm"))[0].staff.id == existing.id  # password unchanged


async def test_an_administrator_of_another_institution_manages_nobody_here(world: World) -> None:
    ours = await _staff(world, "kim.holm", display_name="Kim Holm")
    other_id = await _other_institution(world)
    stranger = Actor(
        kind=ActorKind.ADMIN, label="admin of Sydby", id="staff:999", institution_id=other_id
    )
    with pytest.raises(Forbidden) as created:
        async with world.runtime.unit(stranger) as ctx:
            await create_staff(
                ctx,
                world.institution_id,
                username="sam.berg",
                display_name="Sam Berg",
                role="admin",
                password=PASSWORD,
            )
    assert created.value.code == "forbidden_institution"
    with pytest.raises(Forbidden) as listed:
        async with world.runtime.unit(stranger) as ctx:
            await list_staff(ctx, world.institution_id)
    assert listed.value.code == "forbidden_institution"
    not_found: list[Attempt] = [
        lambda ctx: get_staff(ctx, ours.id),
        lambda ctx: update_staff(ctx, ours.id, StaffChanges(disabled=True)),
        lambda ctx: set_temporary_password(ctx, ours.id),
        lambda ctx: reset_second_factor(ctx, ours.id),
    ]
    for attempt in not_found:
        with pytest.raises(NotFound) as caught:
            async with world.runtime.unit(stranger) as ctx:
                await attempt(ctx)
        assert caught.value.code == "staff_not_found"
    async with world.runtime.unit(stranger) as ctx:
        assert await list_staff(ctx, other_id) == []
    loaded = await _load(world, ours.id)
    assert loaded.disabled_at is None
    assert (await _log_in(world, "kim.holm"))[0].staff.id == ours.id


@pytest.mark.parametrize(
    "username",
    ["", "s", "sam berg", "-sam", ".sam", "sam|berg", "søren", "sam@berg", "x" * 65],
)
async def test_a_bad_user_name_is_refused(world: World, username: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await _staff(world, username)
    assert caught.value.code == "staff_username"
    async with world.runtime.unit() as ctx:
        assert await list_staff(ctx, world.institution_id) == []


@pytest.mark.parametrize("username", ["sb", "sam_berg-2.desk", "0sam", "x" * 64])
async def test_a_good_user_name_is_kept(world: World, username: str) -> None:
    assert (await _staff(world, username)).username == username


async def test_a_user_name_is_taken_across_the_deployment(world: World) -> None:
    first = await _staff(world, "sam.berg")
    with pytest.raises(Conflict) as same:
        await _staff(world, " SAM.Berg", display_name="Sam Bergström")
    assert same.value.code == "staff_username_taken"
    # The login page asks for no institution, so another library cannot have the name either.
    other_id = await _other_institution(world)
    with pytest.raises(Conflict) as other:
        await _staff(world, "sam.berg", institution_id=other_id)
    assert other.value.code == "staff_username_taken"
    async with world.runtime.unit() as ctx:
        assert [s.id for s in await list_staff(ctx, world.institution_id)] == [first.id]
        assert await list_staff(ctx, other_id) == []


@pytest.mark.parametrize(
    ("password", "error"),
    [
        ("password123", "password_common"),
        ("aaaaaaaaaaaa", "password_common"),
        ("Bergsen-Lending-Tuesday", "password_personal"),
        ("sam.berg-Quiet-Tuesday-7", "password_personal"),
        ("qwertyuiop1", "password_weak"),
        ("Summer2026!", "password_weak"),
        ("short-1", "password_too_short"),
    ],
)
async def test_a_weak_password_is_refused(world: World, password: str, error: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
            await create_staff(
                ctx,
                world.institution_id,
                username="sam.berg",
                display_name="Sam Berg",
                role="desk",
                password=password,
            )
    assert caught.value.code == error
    async with world.runtime.unit() as ctx:
        assert await list_staff(ctx, world.institution_id) == []


async def test_a_bad_role_name_or_language_is_refused(world: World) -> None:
    for fields, error in (
        ({"role": "root"}, "staff_role"),
        ({"role": "desk", "display_name": "   "}, "staff_name"),
        ({"role": "desk", "preferred_language": "fr"}, "language"),
    ):
        arguments: dict[str, Any] = {"display_name": "Sam Berg", **fields}
        with pytest.raises(InvalidInput) as caught:
            async with world.runtime.unit() as ctx:
                await create_staff(
                    ctx, world.institution_id, username="sam.berg", password=PASSWORD, **arguments
                )
        assert caught.value.code == error


async def test_a_staff_user_works_only_at_an_open_branch_of_their_institution(
    world: World,
) -> None:
    main = await _branch(world)
    old = await _branch(world, "old", "Old Branch")
    async with world.runtime.unit() as ctx:
        await update_branch(ctx, old.id, closed=True)
    other_id = await _other_institution(world)
    async with world.runtime.unit() as ctx:
        theirs = await create_branch(ctx, other_id, code="syd", name="Sydby Main")

    for branch_id in (theirs.id, 999_999):
        with pytest.raises(NotFound) as missing:
            await _staff(world, branch_id=branch_id)
        assert missing.value.code == "branch_not_found"
    with pytest.raises(InvalidInput) as closed:
        await _staff(world, branch_id=old.id)
    assert closed.value.code == "branch_closed"

    staff = await _staff(world, branch_id=main.id)
    admin = world.actor(ActorKind.ADMIN)
    with pytest.raises(NotFound) as moved_away:
        async with world.runtime.unit(admin) as ctx:
            await update_staff(ctx, staff.id, StaffChanges(branch_id=theirs.id))
    assert moved_away.value.code == "branch_not_found"
    with pytest.raises(InvalidInput) as moved_closed:
        async with world.runtime.unit(admin) as ctx:
            await update_staff(ctx, staff.id, StaffChanges(branch_id=old.id))
    assert moved_closed.value.code == "branch_closed"
    assert (await _load(world, staff.id)).branch_id == main.id


async def test_creation_is_audited_without_the_password(world: World) -> None:
    branch = await _branch(world)
    admin = world.actor(ActorKind.ADMIN, id="staff:1")
    async with world.runtime.unit(admin) as ctx:
        staff = await create_staff(
            ctx,
            world.institution_id,
            username="Sam.Berg",
            display_name="Sam Berg",
            role="desk",
            password=PASSWORD,
            branch_id=branch.id,
        )
    stored = await _load(world, staff.id)
    [event] = await _audit(world, "staff:create")
    assert (event.actor_id, event.institution_id) == ("staff:1", world.institution_id)
    assert (event.subject_kind, event.subject_id, event.patron_id) == (
        "staff_user",
        str(staff.id),
        None,
    )
    assert event.details["username"] == "sam.berg"
    assert event.details["role"] == "desk"
    assert event.details["branch_id"] == branch.id
    async with world.runtime.unit() as ctx:
        everything = (await ctx.session.scalars(select(AuditEvent))).all()
    for each in everything:
        text = json.dumps(each.details)
        assert PASSWORD not in text
        assert stored.password_hash not in text
        assert "argon2" not in text


@pytest.mark.parametrize(
    ("role", "kind"),
    [
        ("desk", ActorKind.DESK),
        ("supervisor", ActorKind.SUPERVISOR),
        ("admin", ActorKind.ADMIN),
    ],
)
async def test_a_staff_member_acts_as_their_role(world: World, role: str, kind: ActorKind) -> None:
    branch = await _branch(world)
    staff = await _staff(world, role=role, branch_id=branch.id)
    actor = staff_actor(staff)
    assert actor.kind is kind
    assert actor.is_staff
    assert (actor.id, actor.institution_id, actor.branch_id) == (
        f"staff:{staff.id}",
        world.institution_id,
        branch.id,
    )
    assert "sam.berg" in actor.label
    assert actor.patron_id is None


# Changing staff users


async def test_an_administrator_changes_role_and_branch(world: World, clock: FrozenClock) -> None:
    main = await _branch(world)
    east = await _branch(world, "east", "East Branch")
    staff = await _staff(world, branch_id=main.id)
    admin = world.actor(ActorKind.ADMIN, id="staff:999")
    _, cookie = await _log_in(world)
    clock.advance(timedelta(minutes=1))

    async with world.runtime.unit(admin) as ctx:
        changed = await update_staff(ctx, staff.id, StaffChanges(role="supervisor"))
    assert changed.role == "supervisor"
    assert changed.updated_at == clock.now()
    assert staff_actor(await _load(world, staff.id)).kind is ActorKind.SUPERVISOR
    # A new role takes effect at once: the session opened with the old one is over.
    assert await _find(world, cookie) is None

    async with world.runtime.unit(admin) as ctx:
        await update_staff(ctx, staff.id, StaffChanges(branch_id=east.id))
    assert (await _load(world, staff.id)).branch_id == east.id
    async with world.runtime.unit(admin) as ctx:
        await update_staff(ctx, staff.id, StaffChanges(clear_branch=True))
    cleared = await _load(world, staff.id)
    assert (cleared.branch_id, cleared.role) == (None, "supervisor")
    assert staff_actor(cleared).branch_id is None

    async with world.runtime.unit(admin) as ctx:
        await update_staff(ctx, staff.id, StaffChanges(role="supervisor"))  # no change, no event
    fields = [e.details["fields"] for e in await _audit(world, "staff:update")]
    assert fields == [["role"], ["branch_id"], ["branch_id"]]


async def test_disabling_a_user_ends_their_sessions(world: World) -> None:
    staff = await _staff(world)
    other = await _staff(world, "kim.holm", display_name="Kim Holm")
    _, cookie = await _log_in(world)
    _, others_cookie = await _log_in(world, "kim.holm")
    assert await _find(world, cookie) is not None

    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        disabled = await update_staff(ctx, staff.id, StaffChanges(disabled=True))
    assert disabled.disabled_at is not None
    assert await _find(world, cookie) is None
    found = await _find(world, others_cookie)  # nobody else's
    assert found is not None
    assert found.staff.id == other.id

    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        enabled = await update_staff(ctx, staff.id, StaffChanges(disabled=False))
    assert enabled.disabled_at is None
    assert await _find(world, cookie) is None  # ended sessions stay ended
    assert (await _log_in(world))[0].staff.id == staff.id


async def test_an_administrator_cannot_disable_or_demote_themselves(world: World) -> None:
    admin = await _staff(world, role="admin")
    me = staff_actor(admin)
    _, cookie = await _log_in(world)
    for changes, error in (
        (StaffChanges(disabled=True), "staff_self_disable"),
        (StaffChanges(role="desk"), "staff_self_demote"),
        (StaffChanges(role="supervisor", display_name="Samuel Berg"), "staff_self_demote"),
    ):
        with pytest.raises(Conflict) as caught:
            async with world.runtime.unit(me) as ctx:
                await update_staff(ctx, admin.id, changes)
        assert caught.value.code == error
    unchanged = await _load(world, admin.id)
    assert (unchanged.role, unchanged.disabled_at, unchanged.display_name) == (
        "admin",
        None,
        "Sam Berg",
    )
    assert await _find(world, cookie) is not None
    # Their own name they may change; keeping the admin role is no demotion.
    async with world.runtime.unit(me) as ctx:
        renamed = await update_staff(
            ctx, admin.id, StaffChanges(display_name="Samuel Berg", role="admin", disabled=False)
        )
    assert (renamed.display_name, renamed.role) == ("Samuel Berg", "admin")
    assert await _find(world, cookie) is not None
    # Another administrator may do both.
    async with world.runtime.unit(world.actor(ActorKind.ADMIN, id="staff:999")) as ctx:
        await update_staff(ctx, admin.id, StaffChanges(role="desk", disabled=True))
    demoted = await _load(world, admin.id)
    assert demoted.role == "desk"
    assert demoted.disabled_at is not None


async def test_the_staff_list_shows_the_whole_institution_and_nothing_else(
    world: World,
) -> None:
    await _staff(world, "sam.berg", display_name="Sam Berg")
    ann = await _staff(world, "ann.dahl", "admin", display_name="ann Dahl")
    gone = await _staff(world, "bo.lund", "supervisor", display_name="Bo Lund")
    async with world.runtime.unit() as ctx:
        await update_staff(ctx, gone.id, StaffChanges(disabled=True))
    other_id = await _other_institution(world)
    theirs = await _staff(world, "eva.syd", display_name="Eva Syd", institution_id=other_id)

    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        ours = await list_staff(ctx, world.institution_id)
    # Everyone, the disabled too (last), by name without regard to case.
    assert [s.username for s in ours] == ["ann.dahl", "sam.berg", "bo.lund"]
    assert ours[0].id == ann.id
    assert theirs.id not in [s.id for s in ours]
    async with world.runtime.unit() as ctx:
        assert [s.username for s in await list_staff(ctx, other_id)] == ["eva.syd"]


# The password step


async def test_the_right_password_opens_a_session_not_yet_verified(
    world: World, clock: FrozenClock
) -> None:
    staff = await _staff(world)
    desk, cookie = await _log_in(world, "  Sam.BERG ")
    assert desk.staff.id == staff.id
    assert desk.verified is False
    assert desk.session.verified_at is None
    assert cookie not in desk.session.digest
    found = await _find(world, cookie)
    assert found is not None
    assert (found.session.id, found.staff.id, found.verified) == (desk.session.id, staff.id, False)
    assert (await _load(world, staff.id)).last_login_at is None  # only the second step counts
    assert await _find(world, cookie + "x") is None


async def test_wrong_password_and_unknown_user_name_are_one_answer(world: World) -> None:
    await _staff(world)
    wrong = await _refusal(world, "sam.berg", "Not-The-Password-1")
    unknown = await _refusal(world, "nobody.here", PASSWORD)
    assert isinstance(wrong, WrongSecret)
    assert isinstance(unknown, WrongSecret)
    assert (wrong.code, wrong.message) == (unknown.code, unknown.message)
    assert wrong.code == "login_failed"


async def test_a_disabled_user_cannot_log_in(world: World) -> None:
    staff = await _staff(world)
    async with world.runtime.unit() as ctx:
        await update_staff(ctx, staff.id, StaffChanges(disabled=True))
    error = await _refusal(world)
    assert isinstance(error, WrongSecret)
    assert error.code == "login_failed"


async def test_five_failures_stop_the_user_name_for_fifteen_minutes(
    world: World, clock: FrozenClock
) -> None:
    staff = await _staff(world)
    # Each failure leaves its unit of work as an error and is counted all the same.
    for _ in range(4):
        assert (await _refusal(world, "sam.berg", "Not-The-Password-1")).code == "login_failed"
    await _log_in(world)  # a success clears the count
    for attempt in range(5):
        name = "SAM.berg " if attempt % 2 else "sam.berg"  # one user name, however written
        assert (await _refusal(world, name, "Not-The-Password-1")).code == "login_failed"
        clock.advance(timedelta(minutes=1))
    refused = await _refusal(world)  # even the right password
    assert isinstance(refused, TooManyAttempts)
    assert refused.code == "too_many_attempts"
    # Another user is not held up by it.
    await _staff(world, "kim.holm", display_name="Kim Holm")
    assert (await _log_in(world, "kim.holm"))[0].staff.username == "kim.holm"
    clock.advance(timedelta(minutes=11))  # 15 minutes after the first of the five
    assert (await _log_in(world))[0].staff.id == staff.id


async def test_unknown_user_names_are_throttled_the_same_way(world: World) -> None:
    for _ in range(5):
        assert isinstance(await _refusal(world, "nobody.here", "Guess-Number-One"), WrongSecret)
    assert isinstance(await _refusal(world, "nobody.here", "Guess-Number-Two"), TooManyAttempts)


async def test_one_client_address_is_stopped_after_twenty_failures(world: World) -> None:
    staff = await _staff(world)
    for n in range(20):
        assert (await _refusal(world, f"guess-{n}", "Not-The-Password-1")).code == "login_failed"
    assert isinstance(await _refusal(world), TooManyAttempts)
    desk, _ = await _log_in(world, address="198.51.100.7")
    assert desk.staff.id == staff.id


# Enrolling the authenticator


async def test_enrolment_gives_the_same_secret_until_confirmed(world: World) -> None:
    await _staff(world)
    pending, _ = await _log_in(world)
    first = await _begin(world, pending)
    again = await _begin(world, pending)
    assert first.secret == again.secret
    assert len(first.secret) >= 16
    assert first.uri.startswith("otpauth://totp/")
    assert f"secret={first.secret}" in first.uri
    assert "sam.berg" in first.uri
    assert "nordby" in first.uri
    # Another login before confirming still shows the secret the phone may have scanned.
    later, _ = await _log_in(world)
    assert (await _begin(world, later)).secret == first.secret

    stored = await _load(world, pending.staff.id)
    assert stored.totp_secret is not None
    assert first.secret not in stored.totp_secret
    assert totp.unseal(world.runtime.keyring, stored.totp_secret) == first.secret
    assert stored.totp_enrolled_at is None


async def test_confirming_enrolment_opens_a_new_verified_session_with_recovery_codes(
    world: World, clock: FrozenClock
) -> None:
    staff = await _staff(world)
    pending, pending_cookie = await _log_in(world)
    enrolment = await _begin(world, pending)
    desk, cookie, codes = await _confirm(world, pending, _code(enrolment.secret, clock))

    assert desk.verified is True
    assert desk.session.id != pending.session.id
    assert cookie != pending_cookie
    assert await _find(world, pending_cookie) is None
    found = await _find(world, cookie)
    assert found is not None
    assert found.verified
    assert found.staff.id == staff.id

    assert len(codes) == 10
    assert len(set(codes)) == 10
    async with world.runtime.unit() as ctx:
        assert await recovery_codes_left(ctx, staff.id) == 10
    enrolled = await _load(world, staff.id)
    assert enrolled.totp_enrolled_at == clock.now()
    assert enrolled.last_login_at == clock.now()
    [enrol_event] = await _audit(world, "staff:enrol_second_factor")
    [login_event] = await _audit(world, "staff:log_in")
    assert enrol_event.actor_id == login_event.actor_id == f"staff:{staff.id}"
    for event in (enrol_event, login_event):
        text = json.dumps(event.details)
        assert enrolment.secret not in text
        assert all(code not in text for code in codes)


async def test_a_wrong_enrolment_code_is_refused(world: World, clock: FrozenClock) -> None:
    staff = await _staff(world)
    pending, pending_cookie = await _log_in(world)
    enrolment = await _begin(world, pending)
    with pytest.raises(WrongSecret) as caught:
        await _confirm(world, pending, _wrong_code(enrolment.secret, clock))
    assert caught.value.code == "second_factor_wrong"
    assert (await _load(world, staff.id)).totp_enrolled_at is None
    still = await _find(world, pending_cookie)
    assert still is not None
    assert not still.verified
    desk, _, _ = await _confirm(world, pending, _code(enrolment.secret, clock))
    assert desk.verified


async def test_enrolment_cannot_be_confirmed_twice(world: World, clock: FrozenClock) -> None:
    user = await _enrolled(world, clock)
    pending, _ = await _log_in(world)
    with pytest.raises(Conflict) as confirmed:
        await _confirm(world, pending, _code(user.totp_secret, clock, 1))
    assert confirmed.value.code == "second_factor_enrolled"
    with pytest.raises(Conflict) as begun:
        await _begin(world, pending)
    assert begun.value.code == "second_factor_enrolled"
    async with world.runtime.unit() as ctx:
        assert await recovery_codes_left(ctx, user.staff.id) == 10
        assert set(await ctx.session.scalars(select(StaffSession.staff_id))) == {user.staff.id}


# The second step


async def test_the_second_step_needs_an_enrolled_authenticator(world: World) -> None:
    await _staff(world)
    pending, _ = await _log_in(world)
    with pytest.raises(Conflict) as caught:
        await _second(world, pending, "123456")
    assert caught.value.code == "second_factor_not_enrolled"


async def test_a_current_code_works_once(world: World, clock: FrozenClock) -> None:
    user = await _enrolled(world, clock)
    clock.advance(timedelta(minutes=2))
    pending, pending_cookie = await _log_in(world)
    code = _code(user.totp_secret, clock)
    desk, cookie = await _second(world, pending, code)
    assert desk.verified
    assert desk.session.id != pending.session.id
    assert await _find(world, pending_cookie) is None
    found = await _find(world, cookie)
    assert found is not None
    assert found.verified
    assert (await _load(world, user.staff.id)).last_login_at == clock.now()

    again, _ = await _log_in(world)
    with pytest.raises(WrongSecret) as replayed:
        await _second(world, again, code)
    assert replayed.value.code == "second_factor_wrong"
    # The code of the step in which the enrolment was confirmed is no good either.
    clock.advance(STEP)
    late, _ = await _log_in(world)
    with pytest.raises(WrongSecret):
        await _second(world, late, code)


async def test_a_code_of_the_previous_step_works_but_not_an_older_one(
    world: World, clock: FrozenClock
) -> None:
    user = await _enrolled(world, clock)
    clock.advance(timedelta(minutes=5))
    pending, _ = await _log_in(world)
    with pytest.raises(WrongSecret) as old:
        await _second(world, pending, _code(user.totp_secret, clock, -2))
    assert old.value.code == "second_factor_wrong"
    desk, _ = await _second(world, pending, _code(user.totp_secret, clock, -1))  # a slow phone
    assert desk.verified
    # After it, the current step's code (not used yet) works; the previous one does not again.
    again, _ = await _log_in(world)
    with pytest.raises(WrongSecret):
        await _second(world, again, _code(user.totp_secret, clock, -1))
    desk, _ = await _second(world, again, _code(user.totp_secret, clock))
    assert desk.verified


async def test_a_code_of_the_next_step_works_too(world: World, clock: FrozenClock) -> None:
    user = await _enrolled(world, clock)
    clock.advance(timedelta(minutes=5))
    pending, _ = await _log_in(world)
    with pytest.raises(WrongSecret):
        await _second(world, pending, _code(user.totp_secret, clock, 2))
    desk, _ = await _second(world, pending, _code(user.totp_secret, clock, 1))  # a fast phone
    assert desk.verified


async def test_a_recovery_code_works_once(world: World, clock: FrozenClock) -> None:
    user = await _enrolled(world, clock)
    code = user.recovery_codes[0]
    pending, _ = await _log_in(world)
    typed = f"{code[:5].lower()}-{code[5:].lower()}"  # as a person may type it from paper
    desk, _ = await _second(world, pending, typed)
    assert desk.verified
    async with world.runtime.unit() as ctx:
        assert await recovery_codes_left(ctx, user.staff.id) == 9
    again, _ = await _log_in(world)
    with pytest.raises(WrongSecret) as caught:
        await _second(world, again, code)
    assert caught.value.code == "second_factor_wrong"
    desk, _ = await _second(world, again, user.recovery_codes[1])
    assert desk.verified


async def test_five_wrong_codes_stop_the_second_step(world: World, clock: FrozenClock) -> None:
    user = await _enrolled(world, clock)
    clock.advance(timedelta(minutes=1))
    pending, _ = await _log_in(world)
    for _ in range(5):
        with pytest.raises(WrongSecret):
            await _second(world, pending, _wrong_code(user.totp_secret, clock))
    for code in (_code(user.totp_secret, clock), user.recovery_codes[0]):
        with pytest.raises(TooManyAttempts):
            await _second(world, pending, code)
    async with world.runtime.unit() as ctx:
        assert await recovery_codes_left(ctx, user.staff.id) == 10
    clock.advance(timedelta(minutes=15))
    later, _ = await _log_in(world)
    desk, _ = await _second(world, later, _code(user.totp_secret, clock))
    assert desk.verified


async def test_a_pending_session_lasts_ten_minutes(world: World, clock: FrozenClock) -> None:
    user = await _enrolled(world, clock)
    _, pending_cookie = await _log_in(world)
    clock.advance(timedelta(minutes=9))
    assert await _find(world, pending_cookie) is not None
    clock.advance(timedelta(minutes=2))
    assert await _find(world, pending_cookie) is None
    # A verified session opened at the same time goes on: 11 idle minutes are within its 30.
    assert await _find(world, user.cookie) is not None


# Desk sessions


async def test_a_session_ends_after_thirty_idle_minutes(world: World, clock: FrozenClock) -> None:
    user = await _enrolled(world, clock)
    clock.advance(timedelta(minutes=29))
    found = await _find(world, user.cookie)
    assert found is not None
    async with world.runtime.unit() as ctx:
        await touch(ctx, StaffSession, found.session.id)
    clock.advance(timedelta(minutes=29))
    assert await _find(world, user.cookie) is not None  # 58 minutes old, 29 idle
    clock.advance(timedelta(minutes=1))
    assert await _find(world, user.cookie) is None


async def test_a_session_ends_after_ten_hours_however_busy(
    world: World, clock: FrozenClock
) -> None:
    user = await _enrolled(world, clock)
    for _ in range(29):  # 9 h 40 min of work, a page every 20 minutes
        clock.advance(timedelta(minutes=20))
        async with world.runtime.unit() as ctx:
            await touch(ctx, StaffSession, user.desk.session.id)
    clock.advance(timedelta(minutes=19))
    assert await _find(world, user.cookie) is not None
    clock.advance(timedelta(minutes=1))
    assert await _find(world, user.cookie) is None


async def test_log_out_ends_only_that_session(world: World, clock: FrozenClock) -> None:
    user = await _enrolled(world, clock)
    _, other_cookie = await _verified(world, clock, user)
    async with world.runtime.unit() as ctx:
        await log_out(ctx, user.desk.session.id)
    assert await _find(world, user.cookie) is None
    assert await _find(world, other_cookie) is not None


async def test_changing_the_own_password_ends_the_other_sessions(
    world: World, clock: FrozenClock
) -> None:
    staff = await _staff(world, must_change_password=True)
    user = await _enrolled(world, clock, staff)
    _, other_cookie = await _verified(world, clock, user)
    _, pending_cookie = await _log_in(world)
    async with world.runtime.unit(staff_actor(staff)) as ctx:
        changed = await change_own_password(
            ctx, staff.id, user.desk.session.id, PASSWORD, NEW_PASSWORD
        )
    assert changed.must_change_password is False
    assert changed.password_changed_at == clock.now()
    loaded = await _load(world, staff.id)
    assert loaded.must_change_password is False
    current = await _find(world, user.cookie)
    assert current is not None
    assert current.verified
    assert await _find(world, other_cookie) is None
    assert await _find(world, pending_cookie) is None
    assert (await _refusal(world, "sam.berg", PASSWORD)).code == "login_failed"
    assert (await _log_in(world, "sam.berg", NEW_PASSWORD))[0].staff.id == staff.id
    [event] = await _audit(world, "staff:change_password")
    assert NEW_PASSWORD not in json.dumps(event.details)


async def test_a_wrong_current_or_unchanged_password_is_refused(
    world: World, clock: FrozenClock
) -> None:
    staff = await _staff(world, must_change_password=True)
    user = await _enrolled(world, clock, staff)
    _, other_cookie = await _verified(world, clock, user)
    me = staff_actor(staff)
    session_id = user.desk.session.id
    for current, new, kind, error in (
        ("Not-The-Password-1", NEW_PASSWORD, WrongSecret, "password_wrong"),
        (PASSWORD, PASSWORD, Conflict, "password_unchanged"),
        (PASSWORD, "Bergsen-Lending-Tuesday", InvalidInput, "password_personal"),
    ):
        with pytest.raises(kind) as caught:
            async with world.runtime.unit(me) as ctx:
                await change_own_password(ctx, staff.id, session_id, current, new)
        assert caught.value.code == error
    # Nobody else changes it this way, not even an administrator.
    with pytest.raises(Forbidden) as forbidden:
        async with world.runtime.unit(world.actor(ActorKind.ADMIN, id="staff:999")) as ctx:
            await change_own_password(ctx, staff.id, session_id, PASSWORD, NEW_PASSWORD)
    assert forbidden.value.code == "forbidden_staff"
    loaded = await _load(world, staff.id)
    assert loaded.must_change_password is True
    assert await _find(world, other_cookie) is not None
    assert (await _log_in(world))[0].staff.id == staff.id


# What an administrator does for a user who lost their password or phone


async def test_a_temporary_password_replaces_the_old_one_and_must_be_changed(
    world: World, clock: FrozenClock
) -> None:
    user = await _enrolled(world, clock)
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        temporary = await set_temporary_password(ctx, user.staff.id)
    assert temporary != PASSWORD
    assert len(temporary) >= 16
    loaded = await _load(world, user.staff.id)
    assert loaded.must_change_password is True
    assert await _find(world, user.cookie) is None
    assert (await _refusal(world, "sam.berg", PASSWORD)).code == "login_failed"
    desk, _ = await _log_in(world, "sam.berg", temporary)
    assert desk.staff.must_change_password is True
    [event] = await _audit(world, "staff:set_temporary_password")
    assert temporary not in json.dumps(event.details)


async def test_a_reset_second_factor_must_be_enrolled_again(
    world: World, clock: FrozenClock
) -> None:
    user = await _enrolled(world, clock)
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        await reset_second_factor(ctx, user.staff.id)
    reset = await _load(world, user.staff.id)
    assert (reset.totp_enrolled_at, reset.totp_secret) == (None, None)
    assert await _find(world, user.cookie) is None
    async with world.runtime.unit() as ctx:
        assert await recovery_codes_left(ctx, user.staff.id) == 0

    clock.advance(timedelta(minutes=1))
    pending, _ = await _log_in(world)
    with pytest.raises(Conflict) as not_enrolled:
        await _second(world, pending, user.recovery_codes[0])
    assert not_enrolled.value.code == "second_factor_not_enrolled"
    enrolment = await _begin(world, pending)
    assert enrolment.secret != user.totp_secret
    _, _, codes = await _confirm(world, pending, _code(enrolment.secret, clock))
    assert not set(codes) & set(user.recovery_codes)

    clock.advance(STEP)
    for old in (user.recovery_codes[1], _code(user.totp_secret, clock)):
        again, _ = await _log_in(world)
        with pytest.raises(WrongSecret):
            await _second(world, again, old)
    again, _ = await _log_in(world)
    desk, _ = await _second(world, again, codes[0])
    assert desk.verified


# The sealed TOTP secret


def _keyring(*versions: int, current: int | None = None) -> Keyring:
    keys = {v: bytes([v]) * 32 for v in versions}
    return Keyring(current=current or max(versions), keys=keys)


def test_a_sealed_secret_unseals_to_itself() -> None:
    secret = totp.new_secret()
    keyring = _keyring(1)
    sealed = totp.seal(keyring, secret)
    assert secret not in sealed
    assert sealed.startswith("v1$")
    assert totp.unseal(keyring, sealed) == secret
    assert totp.seal(keyring, secret) != sealed  # a fresh nonce each time
    # After a key rotation the old secrets still open; new ones use the new key.
    rotated = _keyring(1, 2)
    assert totp.unseal(rotated, sealed) == secret
    resealed = totp.seal(rotated, secret)
    assert resealed.startswith("v2$")
    assert totp.unseal(rotated, resealed) == secret


def test_a_secret_sealed_with_a_missing_key_does_not_open() -> None:
    secret = totp.new_secret()
    sealed = totp.seal(_keyring(1, 2), secret)
    assert totp.unseal(_keyring(1), sealed) is None
    other_key = Keyring(current=2, keys={2: b"\x07" * 32})
    assert totp.unseal(other_key, sealed) is None


def test_a_tampered_sealed_secret_does_not_open() -> None:
    keyring = _keyring(1)
    sealed = totp.seal(keyring, totp.new_secret())
    middle = len(sealed) // 2
    flipped = sealed[:middle] + ("A" if sealed[middle] != "A" else "B") + sealed[middle + 1 :]
    for tampered in (flipped, sealed[:-4], sealed.replace("v1$", "v1$x", 1), "v1$", "nonsense"):
        assert totp.unseal(keyring, tampered) is None


async def test_only_a_live_pending_session_leads_to_the_second_step(
    world: World, clock: FrozenClock
) -> None:
    """An expired pending session, or one already verified, opens no further session."""
    user = await _enrolled(world, clock)
    clock.advance(STEP)
    stale, _ = await _log_in(world, user.staff.username)
    clock.advance(timedelta(minutes=11))
    with pytest.raises(Forbidden):
        await _second(world, stale, _code(user.totp_secret, clock))
    verified, _ = await _verified(world, clock, user)
    clock.advance(STEP)
    with pytest.raises(Forbidden):
        await _second(world, verified, _code(user.totp_secret, clock))


async def test_a_longer_user_name_is_not_cut_to_an_existing_one(world: World) -> None:
    async with world.runtime.unit(world.actor(ActorKind.ADMIN)) as ctx:
        await create_staff(
            ctx,
            world.institution_id,
            username="x" * 64,
            display_name="Sam Berg",
            role="desk",
            password=PASSWORD,
        )
    with pytest.raises(WrongSecret):
        await _log_in(world, "x" * 64 + "-anything")
