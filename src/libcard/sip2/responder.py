"""libcard's answers to SIP2 messages: terminal login (93), ACS status (99), and a handler per
message type, each in one unit of work as the logged-in terminal.

A handler answers "no" by returning the message's negative answer with the reason on the
screen, not by raising: a wrong PIN must stay counted. Anything unexpected becomes the same
negative answer saying the library system could not do it, and the connection lives on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from libcard.context import SYSTEM_ACTOR, Actor, ActorKind
from libcard.errors import LibcardError
from libcard.kit.clock import Clock
from libcard.policy.branches import terminal_login
from libcard.policy.models import Branch, Institution, Terminal
from libcard.runtime import Runtime
from libcard.sip2 import item_handlers, patron_handlers, texts
from libcard.sip2.exchange import ALL_DENIED, Exchange
from libcard.sip2.fields import SupportedMessages
from libcard.sip2.messages import (
    AcsMessage,
    AcsStatus,
    BlockPatronRequest,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    ItemStatusUpdateResponse,
    LoginRequest,
    LoginResponse,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    ScMessage,
    ScStatus,
)
from libcard.sip2.server import Sip2Session, TerminalLogin

logger = logging.getLogger(__name__)

Handler = Callable[[Exchange, Any], Awaitable[AcsMessage]]
HANDLERS: dict[type[ScMessage], Handler] = {
    PatronStatusRequest: patron_handlers.patron_status,
    PatronInformationRequest: patron_handlers.patron_information,
    BlockPatronRequest: patron_handlers.block_patron,
    PatronEnableRequest: patron_handlers.patron_enable,
    EndPatronSessionRequest: patron_handlers.end_session,
    FeePaidRequest: patron_handlers.fee_paid,
    CheckoutRequest: item_handlers.do_checkout,
    CheckinRequest: item_handlers.do_checkin,
    RenewRequest: item_handlers.do_renew,
    RenewAllRequest: item_handlers.do_renew_all,
    ItemInformationRequest: item_handlers.item_information,
    ItemStatusUpdateRequest: item_handlers.item_status_update,
    HoldRequest: item_handlers.hold,
}
SUPPORTED = SupportedMessages(
    patron_status=True,
    checkout=True,
    checkin=True,
    block_patron=True,
    sc_acs_status=True,
    request_resend=True,
    login=True,
    patron_information=True,
    end_patron_session=True,
    fee_paid=True,
    item_information=True,
    item_status_update=False,
    patron_enable=True,
    hold=False,
    renew=True,
    renew_all=True,
)
# How often a connection checks that its terminal is still enabled and its branch open.
RECHECK = timedelta(minutes=1)
# Units of work running at once. One process works on one core: a few units in flight keep it
# and the database busy; more only lengthen every answer.
MAX_UNITS = 16


def terminal_actor(terminal: TerminalLogin) -> Actor:
    return Actor(
        kind=ActorKind.TERMINAL,
        label=f"terminal {terminal.login}",
        id=str(terminal.id),
        institution_id=terminal.institution_id,
        branch_id=terminal.branch_id,
    )


class LibcardResponder:
    def __init__(self, runtime: Runtime, *, max_units: int = MAX_UNITS) -> None:
        self.runtime = runtime
        # Messages wait their turn here, first come first served, rather than in the
        # database pool, whose queue lets a newcomer overtake a waiting message: with a few
        # hundred machines that made the slowest answers many times slower than the median.
        self.admission = asyncio.Semaphore(max_units)

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    async def respond(self, session: Sip2Session, message: ScMessage) -> AcsMessage:
        try:
            if isinstance(message, LoginRequest):
                return await self._login(session, message)
            if session.terminal is not None and not await self._still_in_service(session):
                session.terminal = None
            terminal = session.terminal
            if isinstance(message, ScStatus):
                return self._status(session)
            if terminal is None:
                return refusal(message, self.clock, texts.say("en", texts.NOT_LOGGED_IN))
            handler = HANDLERS.get(type(message))
            if handler is None:
                return refusal(message, self.clock, texts.say("en", texts.NOT_AVAILABLE))
            async with self.admission, self.runtime.unit(terminal_actor(terminal)) as ctx:
                return await handler(Exchange(ctx, session, terminal), message)
        except Exception as error:
            # Expected refusals are answered inside the handlers; this is the unexpected.
            level = logging.INFO if isinstance(error, LibcardError) else logging.ERROR
            logger.log(
                level,
                "SIP2: %s from %s failed: %s",
                message.MESSAGE_ID,
                session.terminal.login if session.terminal else session.peer,
                type(error).__name__,
                exc_info=level == logging.ERROR,
            )
            language = (session.terminal.language if session.terminal else None) or "en"
            return refusal(message, self.clock, texts.say(language, texts.NOT_AVAILABLE))

    async def _login(self, session: Sip2Session, message: LoginRequest) -> LoginResponse:
        # A new login ends the previous one, whatever its outcome.
        session.terminal = None
        session.forget_patron()
        try:
            async with self.runtime.unit(SYSTEM_ACTOR) as ctx:
                terminal = await terminal_login(ctx, message.login_user_id, message.login_password)
                institution = await ctx.session.get(Institution, terminal.institution_id)
                branch = await ctx.session.get(Branch, terminal.branch_id)
                assert institution is not None
                assert branch is not None
                session.terminal = TerminalLogin(
                    id=terminal.id,
                    login=terminal.login,
                    name=terminal.name,
                    institution_id=institution.id,
                    institution_code=institution.code,
                    institution_name=institution.name,
                    branch_id=branch.id,
                    branch_code=branch.code,
                    timezone=institution.timezone,
                    encoding=terminal.encoding,
                    language=terminal.language,
                    default_language=institution.default_language,
                )
        except LibcardError as error:
            logger.info("SIP2: a terminal login from %s was refused (%s)", session.peer, error.code)
            return LoginResponse(ok=False)
        session.encoding = session.terminal.encoding
        session.checked_at = self.clock.now()
        logger.info("SIP2: terminal %s logged in from %s", session.terminal.login, session.peer)
        return LoginResponse(ok=True)

    async def _still_in_service(self, session: Sip2Session) -> bool:
        """An admin disabling a terminal or closing its branch takes effect within a minute
        on connections already open, not only at the next login."""
        now = self.clock.now()
        if session.checked_at is not None and now - session.checked_at < RECHECK:
            return True
        assert session.terminal is not None
        async with self.runtime.unit(SYSTEM_ACTOR, readonly=True) as ctx:
            terminal = await ctx.session.get(Terminal, session.terminal.id)
            branch = await ctx.session.get(Branch, session.terminal.branch_id)
            live = (
                terminal is not None
                and terminal.disabled_at is None
                and branch is not None
                and branch.closed_at is None
            )
        session.checked_at = now
        return live

    def _status(self, session: Sip2Session) -> AcsStatus:
        terminal = session.terminal
        now = self.clock.now()
        if terminal is None:
            return AcsStatus(
                online_status=False, checkin_ok=False, checkout_ok=False,
                acs_renewal_policy=False, status_update_ok=False, offline_ok=False,
                timeout_period=30, retries_allowed=3, date_time_sync=None,
                protocol_version="2.00", institution_id="", supported_messages=SUPPORTED,
                screen_messages=(texts.say("en", texts.NOT_LOGGED_IN),),
            )  # fmt: skip
        local = now.astimezone(ZoneInfo(terminal.timezone)).replace(tzinfo=None)
        return AcsStatus(
            online_status=True, checkin_ok=True, checkout_ok=True, acs_renewal_policy=True,
            status_update_ok=False, offline_ok=False, timeout_period=30, retries_allowed=3,
            date_time_sync=local, protocol_version="2.00",
            institution_id=terminal.institution_code,
            library_name=terminal.institution_name.replace("|", "/"),
            supported_messages=SUPPORTED, terminal_location=terminal.branch_code,
        )  # fmt: skip


def refusal(message: ScMessage, clock: Clock, line: str) -> AcsMessage:
    """The negative answer to `message`, with `line` on the screen."""
    when = clock.now()
    screen = (line,)
    institution = getattr(message, "institution_id", "") or ""
    patron = getattr(message, "patron_identifier", "") or ""
    item = getattr(message, "item_identifier", "") or ""
    if isinstance(message, LoginRequest):
        return LoginResponse(ok=False)
    if isinstance(message, PatronStatusRequest | BlockPatronRequest):
        return PatronStatusResponse(
            patron_status=ALL_DENIED, language=0, transaction_date=when,
            institution_id=institution, patron_identifier=patron, personal_name="",
            valid_patron=False, screen_messages=screen,
        )  # fmt: skip
    if isinstance(message, PatronInformationRequest):
        return PatronInformationResponse(
            patron_status=ALL_DENIED, language=0, transaction_date=when,
            hold_items_count=0, overdue_items_count=0, charged_items_count=0,
            fine_items_count=0, recall_items_count=0, unavailable_holds_count=0,
            institution_id=institution, patron_identifier=patron, personal_name="",
            valid_patron=False, screen_messages=screen,
        )  # fmt: skip
    if isinstance(message, PatronEnableRequest):
        return PatronEnableResponse(
            patron_status=ALL_DENIED, language=0, transaction_date=when,
            institution_id=institution, patron_identifier=patron, personal_name="",
            valid_patron=False, screen_messages=screen,
        )  # fmt: skip
    if isinstance(message, EndPatronSessionRequest):
        return EndSessionResponse(
            end_session=True, transaction_date=when, institution_id=institution,
            patron_identifier=patron, screen_messages=screen,
        )  # fmt: skip
    if isinstance(message, FeePaidRequest):
        return FeePaidResponse(
            payment_accepted=False, transaction_date=when, institution_id=institution,
            patron_identifier=patron, transaction_id=message.transaction_id,
            screen_messages=screen,
        )  # fmt: skip
    if isinstance(message, CheckoutRequest | RenewRequest):
        cls = CheckoutResponse if isinstance(message, CheckoutRequest) else RenewResponse
        return cls(
            ok=False, renewal_ok=False, magnetic_media=None, desensitize=False,
            transaction_date=when, institution_id=institution, patron_identifier=patron,
            item_identifier=item, title_identifier="", due_date="", screen_messages=screen,
        )  # fmt: skip
    if isinstance(message, CheckinRequest):
        return CheckinResponse(
            ok=False, resensitize=True, magnetic_media=None, alert=True,
            transaction_date=when, institution_id=institution, item_identifier=item,
            permanent_location="", screen_messages=screen,
        )  # fmt: skip
    if isinstance(message, RenewAllRequest):
        return RenewAllResponse(
            ok=False, renewed_count=0, unrenewed_count=0, transaction_date=when,
            institution_id=institution, screen_messages=screen,
        )  # fmt: skip
    if isinstance(message, ItemInformationRequest):
        return ItemInformationResponse(
            circulation_status=1, security_marker=0, fee_type=1, transaction_date=when,
            item_identifier=item, title_identifier="", screen_messages=screen,
        )  # fmt: skip
    if isinstance(message, ItemStatusUpdateRequest):
        return ItemStatusUpdateResponse(
            item_properties_ok=False, transaction_date=when, item_identifier=item,
            screen_messages=screen,
        )  # fmt: skip
    if isinstance(message, HoldRequest):
        return HoldResponse(
            ok=False, available=False, transaction_date=when, institution_id=institution,
            patron_identifier=patron, screen_messages=screen,
        )  # fmt: skip
    raise ValueError(f"no answer defined for message {message.MESSAGE_ID}")
