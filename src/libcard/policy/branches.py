"""Branches and self-checkout terminals: where a library lends, and the machines that lend there.

A branch is a building with a lending desk. A terminal is a self-checkout machine's SIP2 login:
SIP2 sends the password in clear in each login message (93), so only an Argon2id hash of a
generated password is kept, and the password is shown once, when it is made or reset.

Every function that takes an id answers NotFound for a row of an institution the actor may not
see, so that ids of other libraries cannot be probed.
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import timedelta
from types import EllipsisType

from sqlalchemy import select

from libcard.access.service import check_throttle, clear_failures, count_failure
from libcard.audit.service import record_on
from libcard.context import Ctx
from libcard.errors import Conflict, InvalidInput, NotFound, WrongSecret
from libcard.kit.secrets import hash_password, verify_password
from libcard.policy.models import Branch, Terminal
from libcard.policy.service import _require_admin, get_institution

BRANCH_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
TERMINAL_LOGIN = re.compile(r"[A-Za-z0-9_.-]{3,64}")
NAME_LENGTH = 200
ADDRESS_LENGTH = 300

# What a self-checkout machine may speak. Most SIP2 clients in the field still send cp850.
ENCODINGS = ("cp850", "latin-1", "utf-8")
DEFAULT_ENCODING = "cp850"
LANGUAGES = ("da", "de", "en")

# Letters and digits only: SIP2 separates fields with "|", and some clients choke on other
# punctuation. 20 characters of 62 are about 119 bits, far beyond any online guessing.
TERMINAL_PASSWORD_LENGTH = 20
TERMINAL_PASSWORD_ALPHABET = string.ascii_letters + string.digits

TERMINAL_LOGIN_ATTEMPTS = 10  # per login name, whether or not a terminal has it
TERMINAL_LOGIN_WINDOW = timedelta(minutes=15)
TERMINAL_LOGIN_FAILED = "terminal_login_failed"


# Branches


def _branch_code(code: str) -> str:
    text = code.strip()
    if not BRANCH_CODE.fullmatch(text):
        raise InvalidInput(
            "branch_code",
            "A branch code has 1–32 characters: letters, digits, dash or underscore.",
        )
    return text


def _name(text: str, code: str, what: str) -> str:
    # Runs of whitespace collapse, so that "Main  Library" and "Main Library" are one name.
    name = " ".join(text.split())
    if not 1 <= len(name) <= NAME_LENGTH:
        raise InvalidInput(code, f"Give the {what} a name of at most {NAME_LENGTH} characters.")
    return name


def _address(text: str | None) -> str | None:
    # An empty address means "none", so a form's blank field clears it.
    address = (text or "").strip()
    if len(address) > ADDRESS_LENGTH:
        raise InvalidInput("branch_address", f"An address has at most {ADDRESS_LENGTH} characters.")
    return address or None


async def list_branches(
    ctx: Ctx, institution_id: int, *, include_closed: bool = True
) -> list[Branch]:
    """The institution's branches by name; any actor who may see the institution sees them."""
    await get_institution(ctx, institution_id)
    query = select(Branch).where(Branch.institution_id == institution_id)
    if not include_closed:
        query = query.where(Branch.closed_at.is_(None))
    return list((await ctx.session.scalars(query.order_by(Branch.name, Branch.id))).all())


async def get_branch(ctx: Ctx, branch_id: int) -> Branch:
    branch = await ctx.session.get(Branch, branch_id)
    if branch is None or not ctx.actor.may_see_institution(branch.institution_id):
        raise NotFound("branch_not_found", f"No branch with id {branch_id}.")
    return branch


async def _open_branch(ctx: Ctx, institution_id: int, branch_id: int) -> Branch:
    """A branch a terminal may be placed at: the same institution's, and open."""
    branch = await ctx.session.get(Branch, branch_id)
    if branch is None or branch.institution_id != institution_id:
        raise NotFound("branch_not_found", f"No branch with id {branch_id} in this institution.")
    if branch.closed_at is not None:
        raise InvalidInput(
            "branch_closed", f"The branch {branch.name!r} is closed; choose another."
        )
    return branch


async def create_branch(
    ctx: Ctx, institution_id: int, *, code: str, name: str, address: str | None = None
) -> Branch:
    _require_admin(ctx, institution_id)
    await get_institution(ctx, institution_id)
    branch_code = _branch_code(code)
    branch_name = _name(name, "branch_name", "branch")
    branch_address = _address(address)
    taken = await ctx.session.scalar(
        select(Branch.id).where(Branch.institution_id == institution_id, Branch.code == branch_code)
    )
    if taken is not None:
        raise Conflict(
            "branch_code_taken", f"The branch code {branch_code!r} is taken in this institution."
        )
    now = ctx.clock.now()
    branch = Branch(
        institution_id=institution_id,
        code=branch_code,
        name=branch_name,
        address=branch_address,
        closed_at=None,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(branch)
    await ctx.session.flush()
    await record_on(ctx, "branch:create", branch, code=branch_code, name=branch_name)
    return branch


async def update_branch(
    ctx: Ctx,
    branch_id: int,
    *,
    name: str | None = None,
    address: str | None = None,
    closed: bool | None = None,
) -> Branch:
    """Change what is given; None leaves a field as it is, and a blank address clears it.
    Closing keeps the branch (payments and audit events name it) but stops new terminals."""
    branch = await get_branch(ctx, branch_id)
    _require_admin(ctx, branch.institution_id)
    changed: set[str] = set()
    if name is not None:
        new_name = _name(name, "branch_name", "branch")
        if new_name != branch.name:
            branch.name = new_name
            changed.add("name")
    if address is not None:
        new_address = _address(address)
        if new_address != branch.address:
            branch.address = new_address
            changed.add("address")
    if closed is not None and closed != (branch.closed_at is not None):
        branch.closed_at = ctx.clock.now() if closed else None
        changed.add("closed")
    if changed:
        branch.updated_at = ctx.clock.now()
        await record_on(ctx, "branch:update", branch, fields=sorted(changed))
    return branch


# Terminals


def _terminal_login(login: str) -> str:
    text = login.strip()
    if not TERMINAL_LOGIN.fullmatch(text):
        raise InvalidInput(
            "terminal_login",
            "A terminal login has 3–64 characters: letters, digits, dot, dash or underscore.",
        )
    return text


def _encoding(value: str) -> str:
    if value not in ENCODINGS:
        raise InvalidInput(
            "terminal_encoding", f"Choose one of these encodings: {', '.join(ENCODINGS)}."
        )
    return value


def _language(value: str | None) -> str | None:
    # None (or blank): the terminal takes each patron's own language, else the institution's.
    if value in (None, ""):
        return None
    if value not in LANGUAGES:
        raise InvalidInput(
            "terminal_language",
            f"Choose one of these languages: {', '.join(LANGUAGES)}, or none.",
        )
    return value


def new_terminal_password() -> str:
    return "".join(
        secrets.choice(TERMINAL_PASSWORD_ALPHABET) for _ in range(TERMINAL_PASSWORD_LENGTH)
    )


async def list_terminals(ctx: Ctx, institution_id: int) -> list[Terminal]:
    await get_institution(ctx, institution_id)
    query = select(Terminal).where(Terminal.institution_id == institution_id)
    return list((await ctx.session.scalars(query.order_by(Terminal.login))).all())


async def get_terminal(ctx: Ctx, terminal_id: int) -> Terminal:
    terminal = await ctx.session.get(Terminal, terminal_id)
    if terminal is None or not ctx.actor.may_see_institution(terminal.institution_id):
        raise NotFound("terminal_not_found", f"No terminal with id {terminal_id}.")
    return terminal


async def create_terminal(
    ctx: Ctx,
    institution_id: int,
    *,
    branch_id: int,
    login: str,
    name: str,
    encoding: str = DEFAULT_ENCODING,
    language: str | None = None,
) -> tuple[Terminal, str]:
    """The terminal and its password, which is shown this once and never again."""
    _require_admin(ctx, institution_id)
    await get_institution(ctx, institution_id)
    terminal_login = _terminal_login(login)
    terminal_name = _name(name, "terminal_name", "terminal")
    terminal_encoding = _encoding(encoding)
    terminal_language = _language(language)
    branch = await _open_branch(ctx, institution_id, branch_id)
    # Unique across the deployment: the SIP2 login message names no institution.
    taken = await ctx.session.scalar(select(Terminal.id).where(Terminal.login == terminal_login))
    if taken is not None:
        raise Conflict("terminal_login_taken", f"The terminal login {terminal_login!r} is taken.")
    password = new_terminal_password()
    now = ctx.clock.now()
    terminal = Terminal(
        institution_id=institution_id,
        branch_id=branch.id,
        login=terminal_login,
        name=terminal_name,
        password_hash=await hash_password(password),
        encoding=terminal_encoding,
        language=terminal_language,
        disabled_at=None,
        last_login_at=None,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(terminal)
    await ctx.session.flush()
    # Neither the password nor its hash goes to the log.
    await record_on(
        ctx,
        "terminal:create",
        terminal,
        login=terminal_login,
        name=terminal_name,
        branch_id=branch.id,
        encoding=terminal_encoding,
        language=terminal_language,
    )
    return terminal, password


async def update_terminal(
    ctx: Ctx,
    terminal_id: int,
    *,
    name: str | None = None,
    branch_id: int | None = None,
    encoding: str | None = None,
    language: str | EllipsisType | None = ...,
    disabled: bool | None = None,
) -> Terminal:
    """Change what is given. None leaves a field as it is, except `language`, where None
    means "no fixed language" and leaving it out leaves it as it is."""
    terminal = await get_terminal(ctx, terminal_id)
    _require_admin(ctx, terminal.institution_id)
    changed: set[str] = set()
    if name is not None:
        new_name = _name(name, "terminal_name", "terminal")
        if new_name != terminal.name:
            terminal.name = new_name
            changed.add("name")
    if branch_id is not None and branch_id != terminal.branch_id:
        terminal.branch_id = (await _open_branch(ctx, terminal.institution_id, branch_id)).id
        changed.add("branch_id")
    if encoding is not None:
        new_encoding = _encoding(encoding)
        if new_encoding != terminal.encoding:
            terminal.encoding = new_encoding
            changed.add("encoding")
    if not isinstance(language, EllipsisType):
        new_language = _language(language)
        if new_language != terminal.language:
            terminal.language = new_language
            changed.add("language")
    if disabled is not None and disabled != (terminal.disabled_at is not None):
        terminal.disabled_at = ctx.clock.now() if disabled else None
        changed.add("disabled")
    if changed:
        terminal.updated_at = ctx.clock.now()
        await record_on(ctx, "terminal:update", terminal, fields=sorted(changed))
    return terminal


async def reset_terminal_password(ctx: Ctx, terminal_id: int) -> str:
    """A new password, shown this once; the old one stops working at once."""
    terminal = await get_terminal(ctx, terminal_id)
    _require_admin(ctx, terminal.institution_id)
    password = new_terminal_password()
    terminal.password_hash = await hash_password(password)
    terminal.updated_at = ctx.clock.now()
    await record_on(ctx, "terminal:reset_password", terminal)
    return password


async def _branch_closed(ctx: Ctx, branch_id: int) -> bool:
    # A closed branch's machines are out of service with it, until it reopens.
    branch = await ctx.session.get(Branch, branch_id)
    return branch is None or branch.closed_at is not None


async def terminal_login(ctx: Ctx, login: str, password: str) -> Terminal:
    """The terminal whose SIP2 login and password these are.

    An unknown login, a disabled terminal and a wrong password are one and the same answer,
    given after the same Argon2 work, so that neither the answer nor its timing tells which
    logins exist. Failures are counted per login name; the unit of work keeps the count.
    """
    # Bounded: the login comes straight off the wire and the throttle key has 200 characters.
    key = f"terminal-login:{login[:150]}"
    await check_throttle(ctx, key, limit=TERMINAL_LOGIN_ATTEMPTS, window=TERMINAL_LOGIN_WINDOW)
    terminal = await ctx.session.scalar(select(Terminal).where(Terminal.login == login))
    stored = terminal.password_hash if terminal is not None else None
    # Verify even for a disabled terminal, so that it costs what a live one costs.
    correct = await verify_password(stored, password)
    if (
        terminal is None
        or not correct
        or terminal.disabled_at is not None
        or not ctx.actor.may_see_institution(terminal.institution_id)
        or await _branch_closed(ctx, terminal.branch_id)
    ):
        await count_failure(ctx, key, window=TERMINAL_LOGIN_WINDOW)
        raise WrongSecret(
            TERMINAL_LOGIN_FAILED,
            "The terminal login or password is wrong, or the terminal or its branch is out of "
            "service. "
            "An administrator can check the terminal and reset its password.",
        )
    await clear_failures(ctx, key)
    terminal.last_login_at = ctx.clock.now()
    return terminal
