"""The floor: the least a patron status can cost while it asks the database at all.

The same `Sip2Server` as libcard's, answering each 23 after one query sent straight through
asyncpg (no SQLAlchemy, no transaction, no row lock, no block rules, no screen texts): the card
by its number with its holder's name and PIN digest, and whether the holder has any fee or
stored block. The PIN is compared as libcard compares it (`Keyring.verify`). A wrong PIN, an
unknown card or a card that is not active gets CQ=N and so counts as an error in the
benchmark, which loads only active cards and sends only right PINs.

Nothing in libcard works this way: this side exists to show how far below the fixed-reply
baseline one round trip to PostgreSQL already puts a server, so that libcard's own figures can
be read against both.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from libcard.cards.pin import PIN
from libcard.kit.secrets import Keyring
from libcard.sip2.fields import PatronStatus
from libcard.sip2.message_base import AcsMessage, ScMessage
from libcard.sip2.messages import LoginResponse, PatronStatusRequest, PatronStatusResponse
from libcard.sip2.server import Sip2Session

STATUS_QUERY = """
select p.first_name, p.last_name, c.state, pc.digest, pc.locked_at,
       exists (select 1 from fee f where f.patron_id = p.id) as has_fees,
       exists (select 1 from block b where b.patron_id = p.id) as has_blocks
from card c
join patron p on p.id = c.patron_id
join pin_credential pc on pc.patron_id = p.id
where c.number = $1
"""

# As many database connections as libcard's responder lets units of work run at once.
POOL_SIZE = 16


class FloorResponder:
    def __init__(self, pool: asyncpg.Pool, keyring: Keyring) -> None:
        self.pool = pool
        self.keyring = keyring

    async def respond(self, session: Sip2Session, message: ScMessage) -> AcsMessage:
        if not isinstance(message, PatronStatusRequest):
            return LoginResponse(ok=True)  # the benchmark's machines send a 93, then only 23s
        async with self.pool.acquire() as connection:
            row = await connection.fetchrow(STATUS_QUERY, message.patron_identifier)
        valid = row is not None and row["state"] == "active" and row["locked_at"] is None
        right_pin = valid and self.keyring.verify(PIN, message.patron_password, row["digest"])
        # Crude stand-ins for the block rules: any stored block denies, any fee is flagged.
        blocked = row is not None and row["has_blocks"]
        owes = row is not None and row["has_fees"]
        return PatronStatusResponse(
            patron_status=PatronStatus(
                charge_privileges_denied=blocked, excessive_outstanding_fees=owes
            ),
            language=1,
            transaction_date=datetime.now(),
            institution_id=message.institution_id,
            patron_identifier=message.patron_identifier,
            personal_name=f"{row['first_name']} {row['last_name']}" if row else "",
            valid_patron=valid,
            valid_patron_password=right_pin,
            currency_type="DKK",
            fee_amount="0.00",
        )


async def floor_pool(sqlalchemy_url: str) -> asyncpg.Pool:
    url = sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    return await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)
