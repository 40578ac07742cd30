"""Administration: the wallet passes. Whether Apple Wallet and Google Wallet are offered and,
when not, which settings are missing or what is wrong with their files; and how the passes
look (colours, barcode, contact text, logo).

The settings are read anew on every visit of the page, so an operator sees at once whether
the files they put in place can be used; the portal and the app read them when libcard
starts.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from libcard.errors import InvalidInput, LibcardError, NotFound
from libcard.kit.i18n import N_
from libcard.policy.models import Institution
from libcard.policy.service import get_institution
from libcard.wallet.branding import KEEP, MAX_CONTACT, update_branding
from libcard.wallet.offers import apple_status, google_status
from libcard.wallet.service import apple_service_url
from libcard.web.desk.admin_forms import NAMES, admin_visit, note, show
from libcard.web.desk.render import add_messages, form_error, redirect
from libcard.web.desk.visit import DeskVisit
from libcard.web.portal.forms import Form

router = APIRouter(include_in_schema=False)

TEMPLATE = "desk/admin/wallet.html"
PAGE = "/desk/admin/wallet"
# The contact text may be up to 500 characters after trimming; what a person pastes may
# carry some blank space more. Longer than this is not a form a person filled in.
MAX_TEXT = 2 * MAX_CONTACT
TEXT_FIELDS = ("background", "foreground", "label", "symbology", "contact")

add_messages(
    {
        "wallet_background": N_(
            "The background colour is written as #rrggbb, for example #003366."
        ),
        "wallet_foreground": N_("The text colour is written as #rrggbb, for example #ffffff."),
        "wallet_label": N_("The label colour is written as #rrggbb, for example #ccddee."),
        "wallet_symbology": N_("Choose one of the barcodes."),
        "wallet_contact": N_("The contact text has at most 500 characters."),
        "wallet_logo_format": N_("The logo must be a PNG file."),
        "wallet_logo_size": N_("The logo file is too big: at most 256 KB."),
        "wallet_logo_dimensions": N_(
            "The logo is too large: at most 480 pixels wide and 150 pixels high."
        ),
        "wallet_logo_conflict": N_("Either choose a new logo or tick Remove the logo, not both."),
        "wallet_no_logo": N_("No logo has been uploaded."),
    }
)

# Which field of the form a refusal is about, for aria-invalid.
FIELD_OF_CODE = {
    "wallet_background": "background",
    "wallet_foreground": "foreground",
    "wallet_label": "label",
    "wallet_symbology": "symbology",
    "wallet_contact": "contact",
    "wallet_logo_format": "logo",
    "wallet_logo_size": "logo",
    "wallet_logo_dimensions": "logo",
    "wallet_logo_conflict": "logo",
}


def _values(current: Institution) -> dict[str, str]:
    return {
        "background": current.wallet_background,
        "foreground": current.wallet_foreground,
        "label": current.wallet_label,
        "symbology": current.wallet_symbology,
        "contact": current.wallet_contact or "",
        "reason": "",
    }


async def _page(
    visit: DeskVisit,
    *,
    values: dict[str, str] | None = None,
    error: LibcardError | None = None,
    done: str | None = None,
) -> Response:
    async with visit.unit(readonly=True) as ctx:
        current = await get_institution(ctx, visit.staff.institution_id)
    settings = visit.runtime.settings
    logo = current.wallet_logo
    page: dict[str, Any] = {
        "current": current,
        "values": values or _values(current),
        "apple": apple_status(settings),
        "google": google_status(settings),
        "service_url": apple_service_url(settings.public_url),
        # The preview shows what is stored; a refused form changed nothing.
        "logo_version": hashlib.sha256(logo).hexdigest()[:16] if logo else None,
        "done": done,
    }
    if error is not None:
        return form_error(
            visit, TEMPLATE, error, error_field=FIELD_OF_CODE.get(error.code), names=NAMES, **page
        )
    return show(visit, TEMPLATE, **page)


@router.get(PAGE)
async def wallet_page(request: Request) -> Response:
    visit = await admin_visit(request)
    return await _page(visit, done=request.query_params.get("done"))


async def _read(request: Request) -> tuple[Form, bytes | None]:
    """The branding form (multipart): its text fields, and the logo file if one was chosen."""
    values: dict[str, str] = {}
    logo: bytes | None = None
    form = await request.form(max_files=1, max_fields=20)
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                # A browser sends an empty part without a name when no file was chosen.
                if name == "logo" and value.filename:
                    logo = await value.read()
            elif len(value) > MAX_TEXT:
                raise InvalidInput("field_too_long", f"{name} is too long.")
            else:
                values[name] = value
    finally:
        await form.close()
    return Form(values), logo


@router.post(PAGE)
async def save_branding(request: Request) -> Response:
    visit = await admin_visit(request)
    form = Form({})
    try:
        form, logo = await _read(request)
        visit.check_csrf(form.get("csrf"))
        async with visit.unit(reason=note(form)) as ctx:
            changed = await update_branding(
                ctx,
                visit.staff.institution_id,
                background=form.get("background"),
                foreground=form.get("foreground"),
                label=form.get("label"),
                symbology=form.get("symbology"),
                contact=form.get("contact"),
                logo=KEEP if logo is None else logo,
                remove_logo=form.has("remove_logo"),
            )
    except LibcardError as error:
        typed = {key: form.get(key) for key in (*TEXT_FIELDS, "reason")}
        return await _page(visit, values=typed, error=error)
    return redirect(visit, f"{PAGE}?done={'saved' if changed else 'unchanged'}")


@router.get(f"{PAGE}/logo")
async def stored_logo(request: Request) -> Response:
    """The stored logo, for the page's preview."""
    visit = await admin_visit(request)
    async with visit.unit(readonly=True) as ctx:
        current = await get_institution(ctx, visit.staff.institution_id)
    if current.wallet_logo is None:
        raise NotFound("wallet_no_logo", "No logo has been uploaded.")
    return Response(current.wallet_logo, media_type="image/png")
