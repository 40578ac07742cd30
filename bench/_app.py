"""The ASGI application the HTTP benchmark serves, built like `libcard serve` builds it.

    python -m uvicorn bench._app:create --factory --host 127.0.0.1 --port 8123

Reads LIBCARD_DATABASE_URL, LIBCARD_PEPPERS and LIBCARD_PEPPER_FILE from the environment
(bench/status.py sets them). The database must be migrated already; no demo data is loaded.
"""

from __future__ import annotations

from fastapi import FastAPI

from libcard.config import Settings
from libcard.runtime import Runtime
from libcard.web.app import create_app


def create() -> FastAPI:
    return create_app(Runtime.build(Settings()), own_runtime=True)
