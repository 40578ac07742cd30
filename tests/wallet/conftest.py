from __future__ import annotations

import pytest

from tests.wallet.pki import PassPki, make_pki


@pytest.fixture(scope="session")
def pki() -> PassPki:
    return make_pki()
