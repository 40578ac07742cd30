"""The demo institution: a patron in every state the rules know, for trying libcard out.

Loaded by `libcard serve --demo` and `libcard demo`; every login it prints works.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from libcard.access.scopes import ALL_SCOPES
from libcard.access.service import create_token
from libcard.accounts.service import register_patron
from libcard.blocks.service import blocks_of, place_staff_block
from libcard.cards.activation import activate
from libcard.cards.models import Card
from libcard.cards.pin import verify_pin
from libcard.cards.rules import CardKind
from libcard.cards.service import issue_card, report_lost
from libcard.collection.service import hand_over
from libcard.config import get_settings
from libcard.context import Actor, ActorKind, Ctx
from libcard.fees.rules import FeeType, PaymentMethod
from libcard.fees.service import charge, pay
from libcard.kit.secrets import hash_password
from libcard.loans.models import Item, Loan
from libcard.loans.service import checkout, create_item
from libcard.patrons.credentials import issue_activation_code
from libcard.patrons.models import Patron
from libcard.policy.branches import DEFAULT_ENCODING, create_branch, create_terminal
from libcard.policy.models import Institution
from libcard.policy.service import create_group, create_institution
from libcard.runtime import Runtime
from libcard.staff import totp
from libcard.staff.models import StaffUser
from libcard.staff.roles import StaffRole
from libcard.staff.service import create_staff

DEMO_CODE = "demo"
DEMO_PASSWORD = "Reading-Room-42"  # noqa: S105 — printed for trying the demo
DEMO_DESK = Actor(kind=ActorKind.DESK, label="demo desk")
DEMO_STAFF_PASSWORD = "Quiet-Stacks-Autumn-19"  # noqa: S105 — printed for trying the demo
# (user name, name, role, branch code): one of each role, so every desk page can be tried.
DEMO_STAFF = [
    ("demo-admin", "Anna Lind", StaffRole.ADMIN, None),
    ("demo-supervisor", "Bo Sand", StaffRole.SUPERVISOR, "main"),
    ("demo-desk", "Clara Vik", StaffRole.DESK, "main"),
]
DEMO_TERMINAL = ("demo-sco-1", "Self-checkout by the entrance", "main")
DEMO_TERMINAL_PASSWORD = "Shelf-Return-Lamp-73"  # noqa: S105 — printed for trying the demo
# (barcode, title, branch code, replacement cost, loanable); the first two are lent out.
DEMO_ITEMS = [
    ("3900100001", "Kongens Fald", "main", 29900, True),
    ("3900100002", "Pelle Erobreren", "main", 34900, True),
    ("3900100003", "Gift", "main", 24900, True),
    ("3900100004", "Babettes Gæstebud", "main", 19900, True),
    ("3900100005", "Smilla's Sense of Snow", "main", 22900, True),
    ("3900100006", "Der Zauberberg", "science", 31900, True),
    ("3900100007", "A Brief History of Time", "science", 21900, True),
    ("3900100008", "Den Store Danske Encyklopædi, bind 1", "main", 99900, False),
]
DEMO_BRANCHES = [
    ("main", "Main Library", "Bibliotekvej 1, 8000 Aarhus"),
    ("science", "Science Library", None),
]


@dataclass
class DemoPatron:
    key: str
    name: str
    group: str
    email: str
    card_number: str
    ecard_number: str
    pin: str | None
    password: str | None
    expected_state: str
    block_codes: list[str] = field(default_factory=list)
    may_borrow: bool = True
    note: str = ""
    activation_code: str | None = None


@dataclass(frozen=True)
class Spec:
    key: str
    first: str
    last: str
    group: str
    pin: str = "2580"
    activate: bool = True
    physical: bool = True
    note: str = ""


SPECS = [
    Spec("ok", "Karen", "Holm", "external", note="Everything in order."),
    Spec("student", "Mads", "Berg", "student", physical=False, note="A student: e-card only (R4)."),
    Spec("employee", "Lene", "Dahl", "employee", note="An employee with a campus badge."),
    Spec("fee_blocked", "Ole", "Krogh", "external", note="Owes 250.00 DKK: fee block (R14b)."),
    Spec(
        "replacement_unpaid", "Sara", "Lund", "external", note="Unpaid replacement invoice (R14c)."
    ),
    Spec(
        "in_collection", "Jens", "Vang", "external", note="Debt with the collection agency (R14d)."
    ),
    Spec("staff_blocked", "Anne", "Skov", "external", note="Blocked by staff until a date (R14e)."),
    Spec("pin_locked", "Peter", "Friis", "external", pin="3691", note="Three wrong PINs (R6)."),
    Spec(
        "pin_one_left",
        "Ida",
        "Nørgaard",
        "external",
        pin="4826",
        note="One wrong PIN short of lockout.",
    ),
    Spec("not_activated", "Emil", "Bach", "external", activate=False, note="Not activated (R1)."),
    Spec(
        "lost_card", "Maria", "Juhl", "external", note="Physical card lost; the e-card works (R10)."
    ),
    Spec("expired", "Hans", "Møller", "external", note="Physical card expired; the e-card works."),
]


async def _institution(ctx: Ctx) -> Institution | None:
    return await ctx.session.scalar(select(Institution).where(Institution.code == DEMO_CODE))


async def load(runtime: Runtime) -> bool:
    """Create the demo institution and its patrons; False if it is there already."""
    async with runtime.unit() as ctx:
        if await _institution(ctx) is not None:
            return False
        institution = await create_institution(
            ctx,
            code=DEMO_CODE,
            name="Nordby University Library",
            card_prefix="2770",
            currency="DKK",
            default_language="da",
            # Paying online asks for a strong login (R16) through the identity broker; a demo
            # without one lets its patrons pay after the portal login.
            payment_login="strong" if runtime.settings.broker_issuer else "none",
            collection_agency="Nordby Inkasso",
        )
        await create_group(ctx, institution.id, code="student", name="Students")
        await create_group(ctx, institution.id, code="employee", name="Employees")
        await create_group(
            ctx,
            institution.id,
            code="external",
            name="External users",
            card_replacement_fee_minor=5000,
        )
        for spec in SPECS:
            await _load_patron(ctx, institution, spec)
        branches = await _load_staff(ctx, institution)
        await _load_lending(ctx, institution, branches)
    return True


async def _load_staff(ctx: Ctx, institution: Institution) -> dict[str, int]:
    branches = {}
    for code, name, address in DEMO_BRANCHES:
        branch = await create_branch(ctx, institution.id, code=code, name=name, address=address)
        branches[code] = branch.id
    for username, name, role, branch_code in DEMO_STAFF:
        staff = await create_staff(
            ctx,
            institution.id,
            username=username,
            display_name=name,
            role=role.value,
            password=DEMO_STAFF_PASSWORD,
            branch_id=branches[branch_code] if branch_code else None,
        )
        # Enrolled already, with a key printed by `libcard demo`: trying the desk should not
        # start with a phone. Real users enrol at their first login.
        staff.totp_secret = totp.seal(ctx.keyring, totp.new_secret())
        staff.totp_enrolled_at = ctx.clock.now()
    return branches


async def _load_lending(ctx: Ctx, institution: Institution, branches: dict[str, int]) -> None:
    """A self-checkout machine with a known password, items, and two loans of the patron
    whose account is in order: one due in two weeks, one three days overdue."""
    login, name, branch_code = DEMO_TERMINAL
    terminal, _ = await create_terminal(
        ctx, institution.id, branch_id=branches[branch_code], login=login, name=name
    )
    terminal.password_hash = await hash_password(DEMO_TERMINAL_PASSWORD)
    for barcode, title, code, cost, loanable in DEMO_ITEMS:
        await create_item(
            ctx,
            institution.id,
            barcode=barcode,
            title=title,
            branch_id=branches[code],
            replacement_cost_minor=cost,
            loanable=loanable,
        )
    holder = await ctx.session.scalar(
        select(Card)
        .join(Patron, Patron.id == Card.patron_id)
        .where(Patron.institution_id == institution.id, Patron.first_name == "Karen")
        .where(Card.kind == CardKind.PHYSICAL)
    )
    assert holder is not None
    assert holder.number is not None
    desk = ctx.as_actor(DEMO_DESK)
    await checkout(desk, holder.number, DEMO_ITEMS[0][0])
    late = await checkout(desk, holder.number, DEMO_ITEMS[1][0])
    now = ctx.clock.now()
    late.checked_out_at = now - timedelta(days=31)
    late.due_at = now - timedelta(days=3)


async def _load_patron(ctx: Ctx, institution: Institution, spec: Spec) -> None:
    email = f"{spec.first.lower()}.{spec.key.replace('_', '-')}@demo.libcard.test"
    fields: dict[str, Any] = {"first_name": spec.first, "last_name": spec.last}
    fields["institutional_email" if spec.group in ("student", "employee") else "email"] = email
    if spec.group == "external":
        fields.update(street="Bibliotekvej 1", postal_code="8000", city="Aarhus", country="DK")
    ids = {"registry_id": f"S{spec.key}"} if spec.group == "student" else {}
    if spec.group == "employee":
        ids = {"identity_id": f"E{spec.key}"}
    registration = await register_patron(ctx, institution.id, spec.group, fields, **ids)
    patron = registration.patron
    card: Card = registration.ecard
    if spec.physical:
        kind = CardKind.EMPLOYEE_BADGE if spec.group == "employee" else CardKind.PHYSICAL
        number = f"B{patron.id:07d}" if kind is CardKind.EMPLOYEE_BADGE else None
        card = await issue_card(ctx, patron.id, kind, number=number)
    if spec.activate:
        _, code = await issue_activation_code(ctx, patron.id, "letter")
        assert card.number is not None
        await activate(ctx, card.number, code, DEMO_PASSWORD, spec.pin)
    desk = ctx.as_actor(DEMO_DESK)
    now = ctx.clock.now()
    if spec.key == "fee_blocked":
        await charge(desk, patron.id, FeeType.OVERDUE, 15000, "Overdue: 'Kongens Fald'")
        await charge(desk, patron.id, FeeType.OVERDUE, 10000, "Overdue: 'Gift'")
    elif spec.key == "replacement_unpaid":
        fee = await charge(desk, patron.id, FeeType.REPLACEMENT, 18000, "Lost: 'Pelle Erobreren'")
        await pay(
            desk, patron.id, 3000, method=PaymentMethod.CASH, idempotency_key=f"demo-{fee.id}"
        )
    elif spec.key == "in_collection":
        await hand_over(ctx, patron.id, 64000, "Demo Inkasso A/S")
    elif spec.key == "staff_blocked":
        await place_staff_block(
            desk, patron.id, "Repeated noise in the reading room", now + timedelta(days=30)
        )
    elif spec.key in ("pin_locked", "pin_one_left"):
        assert card.number is not None
        for _ in range(3 if spec.key == "pin_locked" else 2):
            await verify_pin(ctx, card.number, "0000")
    elif spec.key == "lost_card":
        await report_lost(desk, card.id)
    elif spec.key == "expired":
        card.expires_at = now - timedelta(days=1)


async def describe(runtime: Runtime, *, with_token: bool = True) -> dict[str, Any]:
    """What the demo holds, with working logins; issues a fresh token (and activation code)."""
    async with runtime.unit() as ctx:
        institution = await _institution(ctx)
        if institution is None:
            raise RuntimeError("The demo is not loaded; run `libcard serve --demo` first.")
        patrons = (
            await ctx.session.scalars(
                select(Patron).where(Patron.institution_id == institution.id).order_by(Patron.id)
            )
        ).all()
        out: list[DemoPatron] = []
        for patron, spec in zip(patrons, SPECS, strict=True):
            out.append(await _describe_patron(ctx, patron, spec))
        token = None
        if with_token:
            _, token = await create_token(
                ctx,
                name="demo admin",
                actor_kind=ActorKind.ADMIN,
                scopes=ALL_SCOPES,
                institution_id=institution.id,
            )
        staff = await _describe_staff(ctx, institution)
        lent = set(
            (
                await ctx.session.scalars(
                    select(Item.barcode)
                    .join(Loan, Loan.item_id == Item.id)
                    .where(Item.institution_id == institution.id, Loan.returned_at.is_(None))
                )
            ).all()
        )
        settings = get_settings()
        return {
            "sip2": {
                "host": settings.sip2_host,
                "port": settings.sip2_port,
                "login": DEMO_TERMINAL[0],
                "password": DEMO_TERMINAL_PASSWORD,
                "institution_id": institution.code,
                "encoding": DEFAULT_ENCODING,
                "branch": DEMO_TERMINAL[2],
            },
            "items": [
                {
                    "barcode": barcode,
                    "title": title,
                    "branch": code,
                    "loanable": loanable,
                    "on_loan": barcode in lent,
                }
                for barcode, title, code, _, loanable in DEMO_ITEMS
            ],
            "items_to_check_out": [
                barcode
                for barcode, _, _, _, loanable in DEMO_ITEMS
                if loanable and barcode not in lent
            ],
            "payments": {
                "simulator": (
                    f"http://127.0.0.1:{settings.payments_simulator_port}"
                    if settings.simulating_payments
                    else None
                ),
                "payment_login": institution.payment_login,
                "collection_agency": institution.collection_agency,
            },
            "staff": staff,
            "staff_password": DEMO_STAFF_PASSWORD,
            "institution": {
                "id": institution.id,
                "code": institution.code,
                "name": institution.name,
            },
            "api_token": token,
            "password_for_all": DEMO_PASSWORD,
            "patrons": [asdict(p) for p in out],
        }


async def _describe_staff(ctx: Ctx, institution: Institution) -> list[dict[str, Any]]:
    users = (
        await ctx.session.scalars(
            select(StaffUser)
            .where(StaffUser.institution_id == institution.id)
            .order_by(StaffUser.id)
        )
    ).all()
    out = []
    for user in users:
        secret = totp.unseal(ctx.keyring, user.totp_secret) if user.totp_secret else None
        out.append(
            {
                "username": user.username,
                "name": user.display_name,
                "role": user.role,
                "totp_secret": secret,
                "totp_uri": totp.provisioning_uri(secret, user.username) if secret else None,
            }
        )
    return out


async def _describe_patron(ctx: Ctx, patron: Patron, spec: Spec) -> DemoPatron:
    cards = (
        await ctx.session.scalars(select(Card).where(Card.patron_id == patron.id).order_by(Card.id))
    ).all()
    ecard = next(
        c for c in cards if c.kind == CardKind.ECARD and c.state in ("active", "not_activated")
    )
    shown = next((c for c in cards if c.kind != CardKind.ECARD), ecard)
    blocks, _ = await blocks_of(ctx, patron.id)
    codes = [b.code.value for b in blocks]
    code = None
    state = "ok" if not codes else "blocked"
    if patron.activated_at is None:
        state = "not_activated"
        _, code = await issue_activation_code(ctx, patron.id, "letter")
    elif spec.key == "lost_card":
        state = "lost"
    elif spec.key == "expired":
        state = "expired"
    card_usable = state in ("ok", "blocked")
    return DemoPatron(
        key=spec.key,
        name=f"{patron.first_name} {patron.last_name}",
        group=spec.group,
        email=patron.email or patron.institutional_email or "",
        card_number=shown.number or "",
        ecard_number=ecard.number or "",
        pin=spec.pin if patron.activated_at else None,
        password=DEMO_PASSWORD if patron.activated_at else None,
        expected_state=state,
        block_codes=codes,
        may_borrow=card_usable and not codes,
        note=spec.note,
        activation_code=code,
    )
