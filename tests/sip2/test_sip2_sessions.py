"""A self-checkout machine's conversations with libcard over a real socket: logging in,
asking about a card, lending, returning, renewing, paying, keeping a card, and the bytes and
checksums of its encoding."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from libcard.blocks.service import blocks_of
from libcard.context import ActorKind
from libcard.fees.models import Payment
from libcard.fees.service import ledger_of
from libcard.loans.service import create_item
from libcard.policy.branches import create_branch, update_terminal
from libcard.policy.rules import BlockCode
from libcard.policy.service import create_group, create_institution, update_institution
from libcard.sip2 import (
    AcsStatus,
    CheckinResponse,
    CheckoutResponse,
    CirculationStatus,
    EndSessionResponse,
    FeePaidResponse,
    ItemInformationResponse,
    Language,
    PatronInformationResponse,
    PatronStatusResponse,
    RenewAllResponse,
    RenewResponse,
    RequestScResend,
    checksum,
)
from tests.conftest import World
from tests.sip2.conftest import (
    BOOKS,
    FIRST_NAME,
    LAST_NAME,
    PIN,
    REFERENCE_BOOK,
    TITLES,
    UNKNOWN_ITEM,
    WRONG_PIN,
    Library,
    block_patron,
    checkin,
    checkout,
    end_session,
    fee_paid,
    item_information,
    patron_information,
    patron_status,
    renew,
    renew_all,
    sc_status,
)

FIRST_DUE = "20260202    235959"  # 28 days from the fixture clock, at the end of the local day


def screen(reply: object) -> str:
    """Everything the machine shows the patron, as one text."""
    return " | ".join(getattr(reply, "screen_messages", ()))


async def status_at(
    library: Library, terminal: str, card: str, *, language: int = 0
) -> PatronStatusResponse:
    machine = await library.terminal(terminal)
    return await machine.ask(patron_status(card, PIN, language=language), PatronStatusResponse)


async def test_a_terminal_logs_in_before_anything_else_is_answered(library: Library) -> None:
    client = await library.connect()
    refused = await client.ask(patron_status(library.card("ok"), PIN), PatronStatusResponse)
    assert refused.valid_patron is False
    assert refused.personal_name == ""
    assert "not logged in" in screen(refused)
    before = await client.ask(sc_status(), AcsStatus)
    assert before.online_status is False
    assert before.institution_id == ""

    account = library.terminals["main"]
    assert await client.login(account.login, account.password + "x") is False
    still = await client.ask(patron_status(library.card("ok"), PIN), PatronStatusResponse)
    assert "not logged in" in screen(still)

    assert await client.login(account.login, account.password) is True
    status = await client.ask(sc_status(), AcsStatus)
    assert status.online_status
    assert status.checkout_ok
    assert status.checkin_ok
    assert status.institution_id == "nordby"
    assert status.terminal_location == "main"
    supported = status.supported_messages
    for answered in (
        "patron_status",
        "checkout",
        "checkin",
        "block_patron",
        "login",
        "patron_information",
        "end_patron_session",
        "fee_paid",
        "item_information",
        "renew",
        "renew_all",
    ):
        assert getattr(supported, answered), answered
    assert not supported.hold
    assert not supported.item_status_update

    # An administrator takes the machine out of service: within a minute its open connection
    # is refused like one never logged in, and it cannot log in again.
    async with library.runtime.unit(library.world.actor(ActorKind.ADMIN)) as ctx:
        await update_terminal(ctx, account.id, disabled=True)
    library.clock.advance(timedelta(seconds=61))
    out = await client.ask(patron_status(library.card("ok"), PIN), PatronStatusResponse)
    assert "not logged in" in screen(out)
    assert await client.login(account.login, account.password) is False


async def test_a_terminal_sees_only_its_own_librarys_cards_and_items(library: Library) -> None:
    runtime = library.runtime
    async with runtime.unit() as ctx:
        sydby = await create_institution(
            ctx, code="sydby", name="Sydby Library", card_prefix="2771", currency="DKK"
        )
        group = await create_group(ctx, sydby.id, code="external", name="External")
        branch = await create_branch(ctx, sydby.id, code="main", name="Sydby Main")
    other_library = World(runtime, sydby.id, {"external": group.id})
    async with runtime.unit(other_library.actor(ActorKind.DESK)) as ctx:
        await create_item(
            ctx,
            sydby.id,
            barcode="4400001",
            title="Sydby's own book",
            branch_id=branch.id,
            replacement_cost_minor=10000,
        )
    neighbour = await other_library.patron(physical=True)
    card = neighbour.physical or neighbour.ecard
    machine = await library.terminal()

    status = await machine.ask(patron_status(card, PIN), PatronStatusResponse)
    assert (status.valid_patron, status.valid_patron_password) == (False, False)
    assert status.personal_name == ""
    assert status.fee_amount is None
    information = await machine.ask(patron_information(card, PIN), PatronInformationResponse)
    assert information.valid_patron is False
    assert information.email_address is None
    assert (await machine.ask(checkout(card, BOOKS[0], PIN), CheckoutResponse)).ok is False
    foreign = await machine.ask(checkout(library.card("ok"), "4400001", PIN), CheckoutResponse)
    assert foreign.ok is False
    assert "not recognised" in screen(foreign)
    item = await machine.ask(item_information("4400001"), ItemInformationResponse)
    assert item.title_identifier == ""


async def test_what_a_patron_status_says_about_each_kind_of_card(library: Library) -> None:
    client = await library.terminal()

    ok = await client.ask(patron_status(library.card("ok"), PIN), PatronStatusResponse)
    assert (ok.valid_patron, ok.valid_patron_password) == (True, True)
    assert ok.personal_name == f"{FIRST_NAME} {LAST_NAME}"
    assert (ok.fee_amount, ok.currency_type) == ("0.00", "DKK")
    assert not ok.patron_status.charge_privileges_denied
    assert ok.screen_messages == ()

    unknown = await client.ask(patron_status("27709999999999", PIN), PatronStatusResponse)
    assert unknown.valid_patron is False
    assert unknown.valid_patron_password is False
    assert "not recognised" in screen(unknown)

    waiting = await client.ask(
        patron_status(library.card("not_activated"), PIN), PatronStatusResponse
    )
    assert waiting.valid_patron_password is False
    assert waiting.patron_status.charge_privileges_denied
    assert "not activated" in screen(waiting)
    assert "Activate now" in screen(waiting)

    # R10: a lost card is refused even with the account's right PIN, and says so.
    lost = await client.ask(patron_status(library.card("lost"), PIN), PatronStatusResponse)
    assert lost.valid_patron_password is False
    assert lost.patron_status.card_reported_lost
    assert lost.patron_status.charge_privileges_denied
    assert "reported lost" in screen(lost)

    locked = await client.ask(patron_status(library.card("locked"), PIN), PatronStatusResponse)
    assert locked.valid_patron_password is False
    assert locked.patron_status.charge_privileges_denied
    assert "Blocked after too many wrong PINs" in screen(locked)
    assert "photo ID" in screen(locked)


async def test_wrong_pins_count_across_messages_and_connections_until_the_card_locks(
    library: Library,
) -> None:
    card = library.card("ok")
    first = await library.terminal()
    second = await library.terminal()

    wrong = await first.ask(patron_status(card, WRONG_PIN), PatronStatusResponse)
    assert (wrong.valid_patron, wrong.valid_patron_password) == (True, False)
    assert "Wrong PIN. 2 more wrong attempts lock the card." in wrong.screen_messages
    again = await first.ask(patron_information(card, WRONG_PIN), PatronInformationResponse)
    assert again.valid_patron_password is False
    assert "One more wrong attempt locks the card" in screen(again)
    # The third, on another machine and with a checkout, is the one that locks (R6).
    third = await second.ask(checkout(card, BOOKS[0], WRONG_PIN), CheckoutResponse)
    assert third.ok is False
    assert "Blocked after too many wrong PINs" in screen(third)

    right = await first.ask(patron_status(card, PIN), PatronStatusResponse)
    assert right.valid_patron_password is False
    assert right.patron_status.charge_privileges_denied
    assert "Blocked after too many wrong PINs" in screen(right)
    refused = await second.ask(checkout(card, BOOKS[0], PIN), CheckoutResponse)
    assert refused.ok is False


async def test_a_fee_block_shows_why_and_how_to_lift_it_in_the_terminals_language(
    library: Library,
) -> None:
    card = library.card("fee_blocked")
    english = await status_at(library, "main", card)
    assert english.valid_patron_password is True
    flags = english.patron_status
    assert flags.charge_privileges_denied
    assert flags.renewal_privileges_denied
    assert flags.hold_privileges_denied
    assert flags.excessive_outstanding_fines
    assert flags.excessive_outstanding_fees
    assert not flags.card_reported_lost
    assert (english.fee_amount, english.currency_type) == ("250.00", "DKK")
    assert "Blocked because of unpaid fees" in screen(english)
    assert "250.00" in screen(english)
    assert "225.00" in screen(english)
    assert "Pay all you owe" in screen(english)

    german = await status_at(library, "utf8", card)
    assert german.language == Language.GERMAN
    assert "Gesperrt wegen offener Gebühren" in screen(german)
    danish = await status_at(library, "latin1", card)
    assert danish.language == Language.DANISH
    assert "Spærret på grund af gebyrer" in screen(danish)
    # The request's own language code comes before the terminal's setting.
    asked_in_english = await status_at(library, "utf8", card, language=Language.ENGLISH)
    assert "Blocked because of unpaid fees" in screen(asked_in_english)


async def test_patron_information_lists_loans_only_after_the_right_pin(library: Library) -> None:
    card = library.card("ok")
    machine = await library.terminal()
    assert (await machine.ask(checkout(card, BOOKS[0], PIN), CheckoutResponse)).ok
    for barcode in BOOKS[1:]:
        assert (await machine.ask(checkout(card, barcode), CheckoutResponse)).ok

    mine = await machine.ask(patron_information(card, PIN, charged=True), PatronInformationResponse)
    assert mine.charged_items_count == 3
    assert mine.charged_items == BOOKS
    assert mine.personal_name == f"{FIRST_NAME} {LAST_NAME}"
    assert mine.email_address is not None
    window = await machine.ask(
        patron_information(card, charged=True, start="2", end="3"), PatronInformationResponse
    )
    assert window.charged_items == BOOKS[1:3]

    # Another card on the same machine, without its PIN: no lists and no personal data.
    other = await machine.ask(
        patron_information(library.card("other"), charged=True), PatronInformationResponse
    )
    assert other.charged_items == ()
    assert other.email_address is None
    # The same card on a machine where nobody gave its PIN: the counts, nothing more.
    stranger = await library.terminal()
    seen = await stranger.ask(patron_information(card, charged=True), PatronInformationResponse)
    assert seen.charged_items_count == 3
    assert seen.charged_items == ()
    assert seen.valid_patron_password is None
    assert (seen.email_address, seen.home_address, seen.home_phone_number) == (None, None, None)


async def test_checkout_and_checkin_with_the_pin_given_once_per_patron(library: Library) -> None:
    card, book = library.card("ok"), BOOKS[0]
    machine = await library.terminal()

    no_pin = await machine.ask(checkout(card, book), CheckoutResponse)
    assert no_pin.ok is False
    assert no_pin.desensitize is False
    assert "Enter your PIN" in screen(no_pin)

    assert (await machine.ask(patron_status(card, PIN), PatronStatusResponse)).valid_patron_password
    lent = await machine.ask(checkout(card, book), CheckoutResponse)
    assert lent.ok
    assert lent.desensitize
    assert lent.due_date == FIRST_DUE
    assert lent.title_identifier == TITLES[book]
    assert "Borrowed: Kongens Fald" in screen(lent)
    out = await machine.ask(item_information(book), ItemInformationResponse)
    assert out.circulation_status == CirculationStatus.CHARGED
    assert out.due_date == FIRST_DUE

    # 35 ends the patron's session: the next checkout needs the PIN again.
    ended = await machine.ask(end_session(card), EndSessionResponse)
    assert ended.end_session
    after = await machine.ask(checkout(card, BOOKS[1]), CheckoutResponse)
    assert after.ok is False
    assert "Enter your PIN" in screen(after)

    back = await machine.ask(checkin(book), CheckinResponse)
    assert back.ok
    assert back.resensitize
    assert "Returned: Kongens Fald" in screen(back)
    shelf = await machine.ask(item_information(book), ItemInformationResponse)
    assert shelf.circulation_status == CirculationStatus.AVAILABLE
    assert shelf.due_date is None
    twice = await machine.ask(checkin(book), CheckinResponse)
    assert twice.ok is False
    assert "was not on loan" in screen(twice)


async def test_checkouts_the_library_refuses_say_why(library: Library) -> None:
    card = library.card("ok")
    machine = await library.terminal()
    unknown = await machine.ask(checkout(card, UNKNOWN_ITEM, PIN), CheckoutResponse)
    assert unknown.ok is False
    assert "not recognised" in screen(unknown)
    reference = await machine.ask(checkout(card, REFERENCE_BOOK), CheckoutResponse)
    assert reference.ok is False
    assert "cannot be borrowed" in screen(reference)

    assert (await machine.ask(checkout(card, BOOKS[0]), CheckoutResponse)).ok
    other = library.card("other")
    taken = await machine.ask(checkout(other, BOOKS[0], PIN), CheckoutResponse)
    assert taken.ok is False
    assert "on loan to someone else" in screen(taken)

    blocked = await machine.ask(
        checkout(library.card("fee_blocked"), BOOKS[1], PIN), CheckoutResponse
    )
    assert blocked.ok is False
    assert blocked.desensitize is False
    assert "Blocked because of unpaid fees" in screen(blocked)
    shelf = await machine.ask(item_information(BOOKS[1]), ItemInformationResponse)
    assert shelf.circulation_status == CirculationStatus.AVAILABLE


async def test_renew_one_and_renew_all(library: Library) -> None:
    card = library.card("ok")
    machine = await library.terminal()
    assert (await machine.ask(checkout(card, BOOKS[0], PIN), CheckoutResponse)).ok
    assert (await machine.ask(checkout(card, BOOKS[1]), CheckoutResponse)).ok

    renewed = await machine.ask(renew(card, BOOKS[0]), RenewResponse)
    assert renewed.ok
    assert renewed.renewal_ok
    assert renewed.due_date > FIRST_DUE  # SIP2 dates sort as text
    assert "Renewed: Kongens Fald" in screen(renewed)
    # Someone else's card cannot renew this patron's loan.
    other = await machine.ask(renew(library.card("other"), BOOKS[1], PIN), RenewResponse)
    assert other.ok is False

    everything = await machine.ask(renew_all(card, PIN), RenewAllResponse)
    assert everything.ok
    assert (everything.renewed_count, everything.unrenewed_count) == (2, 0)
    assert set(everything.renewed_items) == set(BOOKS[:2])
    info = await machine.ask(item_information(BOOKS[0]), ItemInformationResponse)
    assert info.due_date is not None
    assert info.due_date > renewed.due_date


async def test_paying_at_the_machine_lifts_the_fee_block_once_per_transaction(
    library: Library,
) -> None:
    async with library.runtime.unit() as ctx:
        # This library lifts a fee block once the balance is under the threshold again.
        await update_institution(
            ctx, library.institution_id, {"fee_block_lifts_at": "below_threshold"}
        )
    card, patron_id = library.card("fee_blocked"), library.patrons["fee_blocked"].id
    machine = await library.terminal()

    paid = await machine.ask(fee_paid(card, "30.00", "T-1001", pin=PIN), FeePaidResponse)
    assert paid.payment_accepted
    assert paid.transaction_id == "T-1001"
    assert "Your card can be used again" in screen(paid)
    # The machine lost the answer and sends the same transaction again: still one payment.
    resent = await machine.ask(fee_paid(card, "30.00", "T-1001", pin=PIN), FeePaidResponse)
    assert resent.payment_accepted
    async with library.runtime.unit() as ctx:
        assert (await ledger_of(ctx, patron_id)).balance_minor == 22000
        payments = select(func.count()).select_from(Payment).where(Payment.patron_id == patron_id)
        assert await ctx.session.scalar(payments) == 1

    status = await machine.ask(patron_status(card, PIN), PatronStatusResponse)
    assert not status.patron_status.charge_privileges_denied
    assert status.fee_amount == "220.00"
    assert (await machine.ask(checkout(card, BOOKS[0]), CheckoutResponse)).ok

    too_much = await machine.ask(fee_paid(card, "300.00", "T-1002"), FeePaidResponse)
    assert too_much.payment_accepted is False
    assert "more than you owe" in screen(too_much)
    assert "220.00" in screen(too_much)

    # Paying everything, and the resend of that payment, both answered "accepted".
    for _ in range(2):
        rest = await machine.ask(fee_paid(card, "220.00", "T-1003"), FeePaidResponse)
        assert rest.payment_accepted, screen(rest)
    async with library.runtime.unit() as ctx:
        assert (await ledger_of(ctx, patron_id)).balance_minor == 0
        assert await ctx.session.scalar(payments) == 2
    nothing = await machine.ask(fee_paid(card, "10.00", "T-1004"), FeePaidResponse)
    assert nothing.payment_accepted is False
    assert "You owe nothing" in screen(nothing)


async def test_a_machine_that_keeps_a_card_blocks_the_account(library: Library) -> None:
    card, patron_id = library.card("ok"), library.patrons["ok"].id
    machine = await library.terminal()
    assert (await machine.ask(patron_status(card, PIN), PatronStatusResponse)).valid_patron_password

    kept = await machine.ask(block_patron(card, "Card left in the reader"), PatronStatusResponse)
    assert kept.patron_status.charge_privileges_denied
    assert "The card has been kept" in screen(kept)
    async with library.runtime.unit() as ctx:
        blocks, _ = await blocks_of(ctx, patron_id)
    retained = [block for block in blocks if block.code is BlockCode.CARD_RETAINED]
    assert len(retained) == 1
    assert retained[0].reason is not None
    assert library.terminals["main"].name in retained[0].reason
    assert "Card left in the reader" in retained[0].reason

    # The PIN given before counts no more, and even with it the account may not borrow.
    refused = await machine.ask(checkout(card, BOOKS[0], PIN), CheckoutResponse)
    assert refused.ok is False
    assert "Card retained by a self-checkout machine" in screen(refused)


async def test_names_travel_in_the_terminals_encoding_with_checksums(library: Library) -> None:
    name = f"{FIRST_NAME} {LAST_NAME}"
    card = library.card("ok")
    for key in ("main", "utf8", "latin1"):
        machine = await library.terminal(key)
        request = patron_status(card, PIN, sequence=3)
        raw = await machine.send(machine.line(request))
        encoded = f"AE{name}|".encode(machine.encoding)
        assert encoded in raw, key
        reply = machine.parse(raw)  # checks the AZ checksum over the terminal's bytes
        assert isinstance(reply, PatronStatusResponse)
        assert (reply.sequence, reply.checksummed) == (3, True)
        text = raw.decode(machine.encoding)
        assert text.endswith(f"AY3AZ{checksum(text[:-5], machine.encoding)}\r")


async def test_a_damaged_line_is_asked_again_and_the_last_answer_can_be_repeated(
    library: Library,
) -> None:
    machine = await library.terminal("utf8")
    line = machine.line(patron_status(library.card("ok"), PIN, sequence=1))
    damaged = line[:-5] + b"0000\r"
    assert machine.parse(await machine.send(damaged)) == RequestScResend(checksummed=True)

    answer = await machine.send(line)
    assert isinstance(machine.parse(answer), PatronStatusResponse)
    assert await machine.send(b"97AZFEF5\r") == answer
    assert await machine.send(b"97\r") == answer

    # A machine that ends its lines with CRLF is understood too.
    status = machine.line(sc_status()).replace(b"\r", b"\r\n")
    assert isinstance(machine.parse(await machine.send(status)), AcsStatus)
    assert isinstance(machine.parse(await machine.send(status)), AcsStatus)
