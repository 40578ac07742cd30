"""Administration: the index, the institution's policy and the patron groups' policy.

Every route needs the admin role; an administrator sees and changes only their own
institution. A form is saved whole or not at all (one unit of work), and only what differs
from what is stored is handed to the service, so the audit log shows what really changed.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from libcard.errors import LibcardError
from libcard.kit.i18n import N_, SUPPORTED
from libcard.kit.money import format_minor
from libcard.policy.models import Institution, PatronGroup
from libcard.policy.rules import (
    GENERIC_FIELD_OWNERS,
    PERSONAL_FIELDS,
    BlockCode,
    FeeBlockLift,
    FeeComparison,
    LostItemReturned,
    PaymentLogin,
    Policy,
    parse_effects,
    parse_owners,
)
from libcard.policy.service import (
    GROUP_NUMBER_RANGES,
    MAX_POLICY_AMOUNT_MINOR,
    create_group,
    get_group,
    get_institution,
    list_groups,
    policy_of,
    update_group,
    update_institution,
)
from libcard.web.desk.admin_forms import (
    OWNER_LABELS,
    FieldError,
    IdPath,
    admin_visit,
    amount,
    choice,
    effective_effects,
    note,
    required_text,
    show,
    show_error,
    text,
    ticked_effects,
    time_zone,
    whole_number,
)
from libcard.web.desk.render import add_messages, redirect
from libcard.web.desk.visit import DeskVisit
from libcard.web.portal.forms import Form, read_form

router = APIRouter(include_in_schema=False)

add_messages(
    {
        "invalid_field": N_("A value in the form cannot be used. Check the marked field."),
        "invalid_policy": N_(
            "One of the settings is outside what is allowed. Check the numbers and choices."
        ),
        "forbidden_policy": N_("Only an administrator may change policy."),
        "institution_not_found": N_("There is no such institution."),
        "group_not_found": N_("There is no such patron group."),
        "group_exists": N_("This institution has a patron group with this code already."),
        "unknown_currency": N_("This currency is not supported."),
    }
)

GROUP_CODE = re.compile(r"[a-z0-9_-]{1,32}")
MODES = ("institution", "own")  # a group's block rule: the institution's, or its own


@router.get("/desk/admin")
async def index(request: Request) -> Response:
    visit = await admin_visit(request)
    return show(visit, "desk/admin/index.html")


# The institution's policy


def _institution_values(current: Institution) -> dict[str, Any]:
    return {
        "name": current.name,
        "default_language": current.default_language,
        "timezone": current.timezone,
        "max_wrong_pins": str(current.max_wrong_pins),
        "threshold": format_minor(current.fee_block_threshold_minor, current.currency),
        "comparison": current.fee_block_comparison,
        "lifts_at": current.fee_block_lifts_at,
        "effects": effective_effects(current.block_effects),
        "activation_code_days": str(current.activation_code_days),
        "password_reset_minutes": str(current.password_reset_minutes),
        "card_valid_years": str(current.card_valid_years),
        "registry_grace_days": str(current.registry_grace_days),
        **_collection_values(current),
        "reason": "",
    }


def _collection_values(current: Institution) -> dict[str, Any]:
    return {
        "collection_agency": current.collection_agency or "",
        "collection_min_debt": format_minor(current.collection_min_debt_minor, current.currency),
        "collection_min_age_days": str(current.collection_min_age_days),
        "collection_notice_days": str(current.collection_notice_days),
        "payment_login": current.payment_login,
    }


def _institution_submitted(form: Form) -> dict[str, Any]:
    """What was typed, as typed, to show again beside an error."""
    keys = (
        "name",
        "default_language",
        "timezone",
        "max_wrong_pins",
        "threshold",
        "comparison",
        "lifts_at",
        "activation_code_days",
        "password_reset_minutes",
        "card_valid_years",
        "registry_grace_days",
        *COLLECTION_KEYS,
        "reason",
    )
    return {**{key: form.get(key) for key in keys}, "effects": ticked_effects(form)}


COLLECTION_KEYS = (
    "collection_agency",
    "collection_min_debt",
    "collection_min_age_days",
    "collection_notice_days",
    "payment_login",
)


def _agency(form: Form) -> str | None:
    """The agency's name; empty: nothing goes to collection."""
    value = text(form, "collection_agency")
    if len(value) > 100:
        raise FieldError(
            "collection_agency",
            N_("Collection agency"),
            N_("%(label)s: at most %(limit)s characters."),
            limit=100,
        )
    return value or None


def _collection_changes(form: Form, current: Institution) -> dict[str, Any]:
    """The collection settings (R15) and the login asked for before paying (R16)."""
    return {
        "collection_agency": _agency(form),
        "collection_min_debt_minor": amount(
            form,
            "collection_min_debt",
            N_("Least debt that goes to collection"),
            current.currency,
            above_zero=True,
        ),
        "collection_min_age_days": whole_number(
            form,
            "collection_min_age_days",
            N_("Days the oldest fee is unpaid first"),
            low=0,
            high=3650,
        ),
        "collection_notice_days": whole_number(
            form, "collection_notice_days", N_("Days to pay after the notice"), low=1, high=90
        ),
        "payment_login": choice(
            form, "payment_login", N_("Before paying online"), tuple(PaymentLogin)
        ),
    }


def _institution_changes(form: Form, current: Institution) -> dict[str, Any]:
    wanted = {
        "name": required_text(form, "name", N_("Name")),
        "default_language": choice(form, "default_language", N_("Default language"), SUPPORTED),
        "timezone": time_zone(form, "timezone", N_("Time zone")),
        "max_wrong_pins": whole_number(
            form, "max_wrong_pins", N_("Wrong PINs in a row"), low=1, high=20
        ),
        "fee_block_threshold_minor": amount(
            form, "threshold", N_("Fee block threshold"), current.currency, above_zero=True
        ),
        "fee_block_comparison": choice(
            form, "comparison", N_("The fee block starts"), tuple(FeeComparison)
        ),
        "fee_block_lifts_at": choice(
            form, "lifts_at", N_("The fee block lifts"), tuple(FeeBlockLift)
        ),
        # Stored whole, for every code: what the administrator sees is exactly what holds.
        "block_effects": ticked_effects(form),
        "activation_code_days": whole_number(
            form, "activation_code_days", N_("Activation codes are valid for"), low=1, high=365
        ),
        "password_reset_minutes": whole_number(
            form,
            "password_reset_minutes",
            N_("Password reset links are valid for"),
            low=5,
            high=1440,
        ),
        "card_valid_years": whole_number(
            form, "card_valid_years", N_("Cards are valid for"), low=1, high=50
        ),
        "registry_grace_days": whole_number(
            form,
            "registry_grace_days",
            N_("Days a student may be missing from the registry"),
            low=0,
            high=365,
        ),
        **_collection_changes(form, current),
    }
    stored = {
        "name": current.name,
        "default_language": current.default_language,
        "timezone": current.timezone,
        "max_wrong_pins": current.max_wrong_pins,
        "fee_block_threshold_minor": current.fee_block_threshold_minor,
        "fee_block_comparison": current.fee_block_comparison,
        "fee_block_lifts_at": current.fee_block_lifts_at,
        "block_effects": effective_effects(current.block_effects),
        "activation_code_days": current.activation_code_days,
        "password_reset_minutes": current.password_reset_minutes,
        "card_valid_years": current.card_valid_years,
        "registry_grace_days": current.registry_grace_days,
        "collection_agency": current.collection_agency,
        "collection_min_debt_minor": current.collection_min_debt_minor,
        "collection_min_age_days": current.collection_min_age_days,
        "collection_notice_days": current.collection_notice_days,
        "payment_login": current.payment_login,
    }
    return {key: value for key, value in wanted.items() if value != stored[key]}


async def _institution_page(
    visit: DeskVisit,
    *,
    values: dict[str, Any] | None = None,
    error: LibcardError | None = None,
    done: str | None = None,
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        current = await get_institution(ctx, visit.staff.institution_id)
    page = {
        "current": current,
        "values": values or _institution_values(current),
        "comparisons": [c.value for c in FeeComparison],
        "lifts": [lift.value for lift in FeeBlockLift],
        "payment_logins": [login.value for login in PaymentLogin],
        "example": format_minor(22500, current.currency),
        "done": done,
    }
    if error is not None:
        return show_error(visit, "desk/admin/institution.html", error, **page)
    return show(visit, "desk/admin/institution.html", **page)


@router.get("/desk/admin/institution")
async def institution_page(request: Request) -> Response:
    visit = await admin_visit(request)
    return await _institution_page(visit, done=request.query_params.get("done"))


@router.post("/desk/admin/institution")
async def save_institution(request: Request) -> Response:
    visit = await admin_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            current = await get_institution(ctx, visit.staff.institution_id)
            changes = _institution_changes(form, current)
            if changes:
                await update_institution(ctx, current.id, changes)
    except LibcardError as error:
        return await _institution_page(visit, values=_institution_submitted(form), error=error)
    done = "saved" if changes else "unchanged"
    return redirect(visit, f"/desk/admin/institution?done={done}")


# Patron groups


def _stored_group_effects(group: PatronGroup) -> dict[str, list[str]] | None:
    effects = {
        code: sorted(a.value for a in actions)
        for code, actions in parse_effects(group.block_effects).items()
    }
    return effects or None


def _group_values(current: Institution, group: PatronGroup | None) -> dict[str, Any]:
    inherited = effective_effects(current.block_effects)
    if group is None:
        return {
            "code": "",
            "name": "",
            "physical": True,
            "fee": format_minor(0, current.currency),
            "max_wrong_pins": "",
            "threshold": "",
            "owners": {name: owner.value for name, owner in GENERIC_FIELD_OWNERS.items()},
            "modes": dict.fromkeys(inherited, "institution"),
            "effects": inherited,
            **_loan_values(Policy(), current.currency),
            "reason": "",
        }
    own = _stored_group_effects(group) or {}
    return {
        "code": group.code,
        "name": group.name,
        "physical": group.may_hold_physical_card,
        "fee": format_minor(group.card_replacement_fee_minor, current.currency),
        "max_wrong_pins": "" if group.max_wrong_pins is None else str(group.max_wrong_pins),
        "threshold": (
            ""
            if group.fee_block_threshold_minor is None
            else format_minor(group.fee_block_threshold_minor, current.currency)
        ),
        "owners": {k: v.value for k, v in parse_owners(group.field_owners, group.code).items()},
        "modes": {code: "own" if code in own else "institution" for code in inherited},
        # A code that follows the institution starts from the institution's boxes when
        # switched to "own", so nothing changes until a box is changed too.
        "effects": {code: own.get(code, actions) for code, actions in inherited.items()},
        **_loan_values(policy_of(current, group), current.currency),
        "reason": "",
    }


# The group's loan rules on its form: whole numbers (field = setting), then amounts typed in
# major units (field, setting in minor units, label).
LOAN_NUMBERS = (
    ("loan_days", N_("Loan period in days")),
    ("max_loans", N_("Most items on loan at once")),
    ("max_renewals", N_("Most renewals of a loan")),
    ("fine_grace_days", N_("Days without a fine after the due date")),
    ("lost_after_days", N_("Days overdue before an item counts as lost")),
)
LOAN_AMOUNTS = (
    ("fine_per_day", "fine_per_day_minor", N_("Overdue fine per day")),
    ("fine_cap", "fine_cap_minor", N_("Most overdue fine per loan")),
)


def _loan_values(policy: Policy, currency: str) -> dict[str, Any]:
    values: dict[str, Any] = {name: str(getattr(policy, name)) for name, _ in LOAN_NUMBERS}
    for name, setting, _ in LOAN_AMOUNTS:
        values[name] = format_minor(getattr(policy, setting), currency)
    values["lost_item_returned"] = policy.lost_item_returned.value
    return values


def _loan_settings(form: Form, currency: str) -> dict[str, Any]:
    """The loan rules of a group form; each number within what the policy service allows."""
    settings: dict[str, Any] = {}
    for name, label in LOAN_NUMBERS:
        low, high, _ = GROUP_NUMBER_RANGES[name]
        settings[name] = whole_number(form, name, label, low=low, high=high)
    for name, setting, label in LOAN_AMOUNTS:
        settings[setting] = amount(
            form, name, label, currency, above_zero=False, at_most=MAX_POLICY_AMOUNT_MINOR
        )
    settings["lost_item_returned"] = choice(
        form,
        "lost_item_returned",
        N_("Replacement invoice when a lost item comes back"),
        tuple(LostItemReturned),
    )
    return settings


LOAN_FORM_FIELDS = (
    *(name for name, _ in LOAN_NUMBERS),
    *(name for name, _, _ in LOAN_AMOUNTS),
    "lost_item_returned",
)
LOAN_SETTINGS = (
    *(name for name, _ in LOAN_NUMBERS),
    *(setting for _, setting, _ in LOAN_AMOUNTS),
    "lost_item_returned",
)


def _group_submitted(form: Form) -> dict[str, Any]:
    return {
        "code": form.get("code"),
        "name": form.get("name"),
        "physical": form.has("physical"),
        "fee": form.get("fee"),
        "max_wrong_pins": form.get("max_wrong_pins"),
        "threshold": form.get("threshold"),
        "owners": {name: form.get(f"owner.{name}") for name in PERSONAL_FIELDS},
        "modes": {code.value: form.get(f"mode.{code.value}") for code in BlockCode},
        "effects": ticked_effects(form),
        **{name: form.get(name) for name in LOAN_FORM_FIELDS},
        "reason": form.get("reason"),
    }


def _group_settings(form: Form, currency: str) -> dict[str, Any]:
    modes = {
        code.value: choice(form, f"mode.{code.value}", N_("Block rules"), MODES)
        for code in BlockCode
    }
    own = tuple(code for code, mode in modes.items() if mode == "own")
    return {
        "name": required_text(form, "name", N_("Name")),
        "may_hold_physical_card": form.has("physical"),
        "card_replacement_fee_minor": amount(
            form, "fee", N_("Fee for a new card"), currency, above_zero=False, optional=True
        )
        or 0,
        "field_owners": {
            name: choice(form, f"owner.{name}", N_("Who changes each field"), OWNER_LABELS)
            for name in PERSONAL_FIELDS
        },
        "max_wrong_pins": whole_number(
            form, "max_wrong_pins", N_("Wrong PINs in a row"), low=1, high=20, optional=True
        ),
        "fee_block_threshold_minor": amount(
            form, "threshold", N_("Fee block threshold"), currency, above_zero=True, optional=True
        ),
        "block_effects": ticked_effects(form, own) if own else None,
        **_loan_settings(form, currency),
    }


def _group_changes(settings: dict[str, Any], group: PatronGroup) -> dict[str, Any]:
    stored = {
        "name": group.name,
        "may_hold_physical_card": group.may_hold_physical_card,
        "card_replacement_fee_minor": group.card_replacement_fee_minor,
        "field_owners": {
            k: v.value for k, v in parse_owners(group.field_owners, group.code).items()
        },
        "max_wrong_pins": group.max_wrong_pins,
        "fee_block_threshold_minor": group.fee_block_threshold_minor,
        "block_effects": _stored_group_effects(group),
        **{name: getattr(group, name) for name in LOAN_SETTINGS},
    }
    return {key: value for key, value in settings.items() if value != stored[key]}


def _group_code(form: Form) -> str:
    code = form.get("code").strip().lower()
    if not GROUP_CODE.fullmatch(code):
        raise FieldError(
            "code",
            N_("Code"),
            N_("%(label)s: 1 to 32 small letters, digits, dashes or underscores."),
        )
    return code


async def _group_page(
    visit: DeskVisit,
    group_id: int | None,
    *,
    values: dict[str, Any] | None = None,
    error: LibcardError | None = None,
    done: str | None = None,
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        group = await get_group(ctx, group_id) if group_id is not None else None
        current = await get_institution(ctx, visit.staff.institution_id)
    page = {
        "group": group,
        "current": current,
        "inherited": effective_effects(current.block_effects),
        "values": values or _group_values(current, group),
        "modes": MODES,
        "example_fine": format_minor(500, current.currency),
        "done": done,
    }
    if error is not None:
        return show_error(visit, "desk/admin/group.html", error, **page)
    return show(visit, "desk/admin/group.html", **page)


@router.get("/desk/admin/groups")
async def groups_page(request: Request) -> Response:
    visit = await admin_visit(request)
    async with visit.unit(readonly=True) as ctx:
        current = await get_institution(ctx, visit.staff.institution_id)
        groups = await list_groups(ctx, current.id)
    rows = [(group, policy_of(current, group)) for group in groups]
    return show(
        visit,
        "desk/admin/groups.html",
        rows=rows,
        current=current,
        done=request.query_params.get("done"),
    )


@router.get("/desk/admin/groups/new")
async def new_group_page(request: Request) -> Response:
    visit = await admin_visit(request)
    return await _group_page(visit, None)


@router.post("/desk/admin/groups")
async def add_group(request: Request) -> Response:
    visit = await admin_visit(request)
    form = await read_form(request)
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            current = await get_institution(ctx, visit.staff.institution_id)
            code = _group_code(form)
            settings = _group_settings(form, current.currency)
            group = await create_group(ctx, current.id, code=code, **settings)
    except LibcardError as error:
        return await _group_page(visit, None, values=_group_submitted(form), error=error)
    return redirect(visit, f"/desk/admin/groups/{group.id}?done=created")


@router.get("/desk/admin/groups/{group_id}")
async def group_page(request: Request, group_id: IdPath) -> Response:
    visit = await admin_visit(request)
    return await _group_page(visit, group_id, done=request.query_params.get("done"))


@router.post("/desk/admin/groups/{group_id}")
async def save_group(request: Request, group_id: IdPath) -> Response:
    visit = await admin_visit(request)
    form = await read_form(request)
    async with visit.unit(readonly=True) as ctx:
        await get_group(ctx, group_id)  # another institution's group: 404, no form
    try:
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            group = await get_group(ctx, group_id)
            current = await get_institution(ctx, group.institution_id)
            changes = _group_changes(_group_settings(form, current.currency), group)
            if changes:
                await update_group(ctx, group.id, changes)
    except LibcardError as error:
        return await _group_page(visit, group_id, values=_group_submitted(form), error=error)
    done = "saved" if changes else "unchanged"
    return redirect(visit, f"/desk/admin/groups/{group_id}?done={done}")
