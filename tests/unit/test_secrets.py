"""Keyed digests with key rotation, typed codes, tokens and passwords (kit/secrets.py)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libcard.kit.secrets import (
    CODE_ALPHABET,
    Keyring,
    hash_password,
    load_keyring,
    new_code,
    new_token,
    normalise_code,
    verify_password,
    version_of,
)

V1 = Keyring(current=1, keys={1: b"k" * 32})
V2 = Keyring(current=2, keys={1: b"k" * 32, 2: b"n" * 32})  # v2 added, v1 kept for old digests
V2_ONLY = Keyring(current=2, keys={2: b"n" * 32})  # v1 retired


# --- keyed digests (PINs, codes, health-card numbers) --------------------------------------


def test_a_digest_names_its_key_version_and_hides_the_value() -> None:
    stored = V1.digest("pin", "2580")
    assert re.fullmatch(r"v1\$[0-9a-f]{64}", stored)
    assert "2580" not in stored
    assert version_of(stored) == 1


def test_a_digest_verifies_the_right_value_only() -> None:
    stored = V1.digest("pin", "2580")
    assert V1.verify("pin", "2580", stored)
    assert not V1.verify("pin", "2581", stored)


def test_a_digest_is_bound_to_its_purpose() -> None:
    """A PIN digest must not pass as the digest of an activation code with the same text."""
    stored = V1.digest("pin", "2580")
    assert not V1.verify("activation", "2580", stored)
    assert V1.digest("pin", "2580") != V1.digest("activation", "2580")


def test_purpose_and_value_cannot_be_shifted_into_each_other() -> None:
    assert V1.digest("pin", "x2580") != V1.digest("pinx", "2580")


def test_a_different_server_key_gives_a_different_digest() -> None:
    other = Keyring(current=1, keys={1: b"o" * 32})
    assert not other.verify("pin", "2580", V1.digest("pin", "2580"))


def test_old_digests_still_verify_after_rotation() -> None:
    """Rotating the server key must not lock every patron out of their card."""
    old = V1.digest("pin", "2580")
    assert V2.verify("pin", "2580", old)
    assert not V2.verify("pin", "0852", old)
    assert not V2.is_current(old)  # ... but the service knows to re-digest it
    new = V2.digest("pin", "2580")
    assert new.startswith("v2$")
    assert V2.is_current(new)
    assert new != old


def test_digests_of_a_retired_key_no_longer_verify() -> None:
    assert not V2_ONLY.verify("pin", "2580", V1.digest("pin", "2580"))


@pytest.mark.parametrize("stored", ["", "garbage", "v$abc", "vX$abc", "v9$" + "0" * 64])
def test_malformed_or_unknown_digests_never_verify(stored: str) -> None:
    assert not V2.verify("pin", "2580", stored)
    assert not V2.is_current(stored)


@given(st.text(max_size=20), st.text(max_size=20))
def test_digest_verify_round_trip(purpose: str, value: str) -> None:
    stored = V2.digest(purpose, value)
    assert V2.verify(purpose, value, stored)
    assert not V2.verify(purpose, value + "0", stored)


# --- load_keyring ----------------------------------------------------------------------


def test_configured_keys_are_used_as_hex_or_text(tmp_path: Path) -> None:
    keyring = load_keyring({1: "00ff", 2: "not hex!"}, 2, tmp_path / "keys.json")
    assert keyring.keys == {1: b"\x00\xff", 2: b"not hex!"}
    assert keyring.current == 2
    assert not (tmp_path / "keys.json").exists()


def test_a_current_version_without_a_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="version 3"):
        load_keyring({1: "00ff"}, 3, tmp_path / "keys.json")


def test_the_embedded_default_creates_a_private_key_file_once(tmp_path: Path) -> None:
    file = tmp_path / "keys.json"
    first = load_keyring({}, 1, file)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert len(first.keys[1]) == 32
    again = load_keyring({}, 1, file)
    assert again.keys == first.keys  # digests made yesterday still verify after a restart


def test_the_key_file_may_hold_a_newer_key(tmp_path: Path) -> None:
    file = tmp_path / "keys.json"
    file.write_text(json.dumps({"1": "aa" * 32, "2": "bb" * 32}))
    keyring = load_keyring({}, 1, file)
    assert keyring.current == 2


# --- codes and tokens -----------------------------------------------------------------


def test_the_code_alphabet_has_no_easily_confused_characters() -> None:
    """Codes are typed from a letter or an e-mail (R2)."""
    assert not set("0O1IL") & set(CODE_ALPHABET)
    assert len(CODE_ALPHABET) == 31
    assert set(CODE_ALPHABET) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@given(st.integers(min_value=1, max_value=40))
def test_new_code_uses_only_the_unambiguous_alphabet(length: int) -> None:
    code = new_code(length)
    assert len(code) == length
    assert set(code) <= set(CODE_ALPHABET)


def test_new_codes_differ() -> None:
    assert len({new_code() for _ in range(50)}) == 50


@pytest.mark.parametrize(
    ("typed", "code"), [("abcd-efgh-jk", "ABCDEFGHJK"), (" AB CD\n", "ABCD"), ("ab.cd", "ABCD")]
)
def test_normalise_code_ignores_case_spaces_and_dashes(typed: str, code: str) -> None:
    assert normalise_code(typed) == code


@given(st.integers(min_value=5, max_value=12))
def test_a_code_survives_being_typed_in_lower_case_with_dashes(length: int) -> None:
    code = new_code(length)
    typed = "-".join(code[i : i + 4] for i in range(0, len(code), 4)).lower()
    assert normalise_code(typed) == code


def test_new_tokens_are_url_safe_and_unique() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)


# --- passwords (Argon2id; each call ~50 ms, so few of them) ------------------------------


async def test_password_hash_round_trip() -> None:
    stored = await hash_password("korrekt hest batteri")
    assert stored.startswith("$argon2id$")
    assert "korrekt" not in stored
    assert await verify_password(stored, "korrekt hest batteri")
    assert not await verify_password(stored, "korrekt hest batteri!")


async def test_verify_password_without_a_stored_hash_is_false() -> None:
    assert await verify_password(None, "anything at all") is False


async def test_verify_password_with_a_broken_stored_hash_is_false() -> None:
    assert await verify_password("not-a-hash", "anything at all") is False
