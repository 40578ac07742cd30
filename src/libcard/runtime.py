"""The running libcard: settings, database engine, keys and clock, built once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from libcard.config import Settings
from libcard.context import SYSTEM_ACTOR, Actor, Ctx
from libcard.db import create_engine, session_factory, unit_of_work
from libcard.kit.clock import Clock, SystemClock
from libcard.kit.secrets import Keyring, load_keyring


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    clock: Clock = field(default_factory=SystemClock)
    # For units that only read. On SQLite a second engine whose transactions take no write
    # lock; on PostgreSQL the same engine.
    read_engine: AsyncEngine | None = None
    read_sessions: async_sessionmaker[AsyncSession] | None = None

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        engine = create_engine(settings.database_url)
        keyring = load_keyring(
            {v: s.get_secret_value() for v, s in settings.peppers.items()},
            settings.pepper_current_version,
            settings.pepper_file,
        )
        runtime = cls(settings, engine, session_factory(engine), keyring, clock or SystemClock())
        if settings.is_sqlite:
            runtime.read_engine = create_engine(settings.database_url, readonly=True)
            runtime.read_sessions = session_factory(runtime.read_engine)
        return runtime

    @asynccontextmanager
    async def unit(
        self, actor: Actor = SYSTEM_ACTOR, *, readonly: bool = False
    ) -> AsyncIterator[Ctx]:
        """One unit of work as `actor`: commit at the end, roll back on error. A `readonly`
        unit must not write (SQLite refuses it), and in exchange waits for no writer."""
        sessions = self.read_sessions if readonly and self.read_sessions else self.sessions
        async with unit_of_work(sessions) as session:
            yield Ctx(session=session, clock=self.clock, keyring=self.keyring, actor=actor)

    async def close(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()
