"""Pass update pushes through APNs, against a local HTTP/2 server that demands the pass
certificate the way Apple's push service does."""

from __future__ import annotations

import json
import logging
import secrets
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from libcard.config import Settings
from libcard.errors import InvalidInput
from libcard.wallet.apns import ApnsPusher, PassPusher, PushOutcome, PushResult, apns_pusher
from tests.wallet.apns_server import ApnsTestServer, ServerTls, make_server_tls
from tests.wallet.pki import PASS_TYPE, TEAM, PassPki, make_pki

KEY_PASSWORD = "correct horse"


def token() -> str:
    return secrets.token_hex(32)


@pytest.fixture(scope="module")
def pass_files(pki: PassPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The pass type certificate and its key, protected by a password as operators keep it."""
    return pki.write(tmp_path_factory.mktemp("pass"), password=KEY_PASSWORD.encode())


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory: pytest.TempPathFactory) -> ServerTls:
    return make_server_tls(tmp_path_factory.mktemp("push-server"))


@pytest.fixture(scope="module")
def server(
    pass_files: dict[str, Path], server_tls: ServerTls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApnsTestServer]:
    # Like Apple, the server trusts pass certificates through the WWDR intermediate.
    client_ca = tmp_path_factory.mktemp("client-ca") / "trusted.pem"
    client_ca.write_bytes(pass_files["root"].read_bytes() + pass_files["wwdr"].read_bytes())
    running = ApnsTestServer(server_tls, client_ca)
    running.start()
    yield running
    running.stop()


def make_pusher(
    server: ApnsTestServer,
    server_tls: ServerTls,
    files: dict[str, Path],
    *,
    timeout_seconds: float = 5.0,
    concurrency: int = 20,
) -> ApnsPusher:
    return ApnsPusher(
        certificate=files["certificate"],
        key=files["key"],
        key_password=KEY_PASSWORD,
        base_url=server.url,
        ca_file=server_tls.ca,
        timeout_seconds=timeout_seconds,
        concurrency=concurrency,
    )


@pytest.fixture
async def pusher(
    server: ApnsTestServer, server_tls: ServerTls, pass_files: dict[str, Path]
) -> AsyncIterator[ApnsPusher]:
    async with make_pusher(server, server_tls, pass_files) as opened:
        yield opened


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_a_push_is_an_http2_post_of_an_empty_object_with_the_pass_certificate(
    pusher: ApnsPusher, server: ApnsTestServer, pki: PassPki
) -> None:
    device = token()

    results = await pusher.push(PASS_TYPE, [device])

    assert results == [PushResult(device, PushOutcome.SENT, 200, None)]
    [request] = server.requests_for(device)
    assert request.http_version == "h2"
    assert request.method == "POST"
    assert request.path == f"/3/device/{device}"
    assert request.headers["apns-topic"] == PASS_TYPE
    assert json.loads(request.body) == {}
    assert request.client_subject == pki.leaf.subject.rfc4514_string()


async def test_a_removed_pass_or_a_dead_token_is_gone_and_other_refusals_are_retried_later(
    pusher: ApnsPusher, server: ApnsTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    sent, removed, bad, other_topic, wrong_topic, busy, broken = (token() for _ in range(7))
    server.answer(removed, 410, "Unregistered")
    server.answer(bad, 400, "BadDeviceToken")
    server.answer(other_topic, 400, "DeviceTokenNotForTopic")
    server.answer(wrong_topic, 400, "BadTopic")  # libcard's mistake, not the device's
    server.answer(busy, 429, "TooManyRequests")
    server.answer(broken, 500, "InternalServerError")
    tokens = [sent, removed, bad, other_topic, wrong_topic, busy, broken]

    with caplog.at_level(logging.DEBUG):
        results = await pusher.push(PASS_TYPE, tokens)

    assert results == [
        PushResult(sent, PushOutcome.SENT, 200, None),
        PushResult(removed, PushOutcome.GONE, 410, "Unregistered"),
        PushResult(bad, PushOutcome.GONE, 400, "BadDeviceToken"),
        PushResult(other_topic, PushOutcome.GONE, 400, "DeviceTokenNotForTopic"),
        PushResult(wrong_topic, PushOutcome.FAILED, 400, "BadTopic"),
        PushResult(busy, PushOutcome.FAILED, 429, "TooManyRequests"),
        PushResult(broken, PushOutcome.FAILED, 500, "InternalServerError"),
    ]
    # The log tells the refusals apart by a prefix; no token is written out whole, not even
    # in the URLs the HTTP client logs.
    assert "HTTP Request: POST" in caplog.text
    assert removed[:8] in caplog.text
    assert broken[:8] in caplog.text
    assert not any(device in caplog.text for device in tokens)


async def test_a_push_service_that_cannot_be_reached_fails_the_push_without_raising(
    server_tls: ServerTls, pass_files: dict[str, Path]
) -> None:
    device = token()
    async with ApnsPusher(
        certificate=pass_files["certificate"],
        key=pass_files["key"],
        key_password=KEY_PASSWORD,
        base_url=f"https://127.0.0.1:{free_port()}",
        ca_file=server_tls.ca,
    ) as unreachable:
        [result] = await unreachable.push(PASS_TYPE, [device])

    assert result.outcome is PushOutcome.FAILED
    assert result.status is None
    assert result.reason is not None
    assert result.reason.startswith("ConnectError")


async def test_the_push_service_admits_only_a_certificate_it_trusts(
    server: ApnsTestServer, server_tls: ServerTls, tmp_path: Path
) -> None:
    device = token()
    # Without a client certificate the server hangs up (it is no lenient stand-in)...
    async with httpx.AsyncClient(
        http2=True, verify=ssl.create_default_context(cafile=str(server_tls.ca))
    ) as anonymous:
        with pytest.raises(httpx.HTTPError):
            await anonymous.post(
                f"{server.url}/3/device/{device}", content=b"{}", headers={"apns-topic": PASS_TYPE}
            )

    # ...and a pass certificate of someone else's hierarchy fails the push, not the caller.
    stranger = make_pki().write(tmp_path, password=KEY_PASSWORD.encode())
    async with make_pusher(server, server_tls, stranger) as untrusted:
        [result] = await untrusted.push(PASS_TYPE, [device])

    assert result.outcome is PushOutcome.FAILED
    assert result.status is None
    assert server.requests_for(device) == []


async def test_a_token_that_is_not_hex_is_never_sent(
    pusher: ApnsPusher, server: ApnsTestServer
) -> None:
    device = token()
    forged = ["../../3/device/" + token(), f"{token()}?topic=x", "not-hex", "", "ab cd", "a" * 201]
    before = len(server.requests())

    results = await pusher.push(PASS_TYPE, [*forged, device])

    assert results[:-1] == [
        PushResult(value, PushOutcome.GONE, None, "not a push token") for value in forged
    ]
    assert results[-1].outcome is PushOutcome.SENT
    arrived = server.requests()[before:]
    assert [request.path for request in arrived] == [f"/3/device/{device}"]


async def test_a_device_listed_twice_is_pushed_once(
    pusher: ApnsPusher, server: ApnsTestServer
) -> None:
    device = token()

    results = await pusher.push(PASS_TYPE, [device, device])

    assert results == [PushResult(device, PushOutcome.SENT, 200, None)]
    assert len(server.requests_for(device)) == 1


async def test_many_devices_are_pushed_together_over_one_connection_a_few_at_a_time(
    server: ApnsTestServer, server_tls: ServerTls, pass_files: dict[str, Path]
) -> None:
    devices = [token() for _ in range(40)]
    for device in devices:
        server.answer_after(device, 0.02)  # long enough for pushes to overlap
    server.count_in_flight_afresh()

    async with make_pusher(server, server_tls, pass_files, concurrency=5) as bounded:
        results = await bounded.push(PASS_TYPE, devices)

    assert [result.push_token for result in results] == devices
    assert {result.outcome for result in results} == {PushOutcome.SENT}
    connections = {server.requests_for(device)[0].connection for device in devices}
    assert len(connections) == 1
    assert 1 < server.max_in_flight <= 5


async def test_a_push_that_takes_too_long_fails_and_the_others_still_go(
    server: ApnsTestServer, server_tls: ServerTls, pass_files: dict[str, Path]
) -> None:
    slow, quick = token(), token()
    server.answer_after(slow, 5.0)

    async with make_pusher(server, server_tls, pass_files, timeout_seconds=0.3) as impatient:
        results = await impatient.push(PASS_TYPE, [slow, quick])

    assert results[0].outcome is PushOutcome.FAILED
    assert results[0].reason is not None
    assert results[0].reason.startswith("timeout")
    assert results[1] == PushResult(quick, PushOutcome.SENT, 200, None)


def configured_settings(files: dict[str, Path], **overrides: object) -> Settings:
    settings = Settings(
        _env_file=None,
        apple_pass_type_identifier=PASS_TYPE,
        apple_team_identifier=TEAM,
        apple_pass_certificate_path=files["certificate"],
        apple_pass_key_path=files["key"],
        apple_pass_key_password=KEY_PASSWORD,
        apple_wwdr_certificate_path=files["wwdr"],
    )
    return settings.model_copy(update=overrides)


async def test_the_settings_give_a_pusher_only_where_apple_wallet_is_set_up(
    server: ApnsTestServer, server_tls: ServerTls, pass_files: dict[str, Path]
) -> None:
    assert apns_pusher(Settings(_env_file=None)) is None
    assert apns_pusher(configured_settings(pass_files, apple_wwdr_certificate_path=None)) is None

    settings = configured_settings(
        pass_files, apple_push_url=server.url, apple_push_ca_path=server_tls.ca
    )
    pusher: PassPusher | None = apns_pusher(settings)
    assert pusher is not None
    device = token()
    try:
        results = await pusher.push(PASS_TYPE, [device])
    finally:
        await pusher.aclose()

    assert results == [PushResult(device, PushOutcome.SENT, 200, None)]
    assert Settings(_env_file=None).apple_push_url == "https://api.push.apple.com"


def test_a_certificate_that_cannot_be_used_is_a_clear_error(
    pass_files: dict[str, Path], tmp_path: Path
) -> None:
    certificate, key = pass_files["certificate"], pass_files["key"]
    unusable: list[Callable[[], ApnsPusher]] = [
        lambda: ApnsPusher(certificate=certificate, key=key, key_password="wrong"),
        # A protected key without its password is refused at once, not asked for on a terminal.
        lambda: ApnsPusher(certificate=certificate, key=key),
        lambda: ApnsPusher(certificate=certificate, key=tmp_path / "missing.key"),
        # A certificate the key does not belong to.
        lambda: ApnsPusher(certificate=pass_files["wwdr"], key=key, key_password=KEY_PASSWORD),
    ]
    for opening in unusable:
        with pytest.raises(InvalidInput) as refused:
            opening()
        assert refused.value.code == "wallet_push_certificate_unreadable"

    with pytest.raises(InvalidInput) as refused:
        ApnsPusher(
            certificate=certificate,
            key=key,
            key_password=KEY_PASSWORD,
            ca_file=tmp_path / "missing-ca.pem",
        )
    assert refused.value.code == "wallet_push_ca_unreadable"
