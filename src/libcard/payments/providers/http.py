"""One HTTP exchange with a provider, its failures turned into libcard errors.

Credentials travel in headers and never reach the log: only the method, the path, the status
and the provider's own description of a refusal are logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from libcard.errors import NotFound
from libcard.payments.providers.errors import refused, unavailable

log = logging.getLogger("libcard.payments.providers")

# The provider's error document → one line a person can read; each provider has its format.
Describe = Callable[[Any], str]

# Statuses after which the same request may well succeed later: the provider's trouble.
RETRYABLE = {408, 423, 425, 429}


async def exchange(
    provider: str,
    *,
    base_url: str,
    timeout_seconds: float,
    method: str,
    path: str,
    describe: Describe,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    params: Mapping[str, str] | None = None,
    auth: httpx.Auth | None = None,
    not_found: str | None = None,
) -> Any:
    """Send one request and return its decoded JSON body (None when empty).

    A 404 becomes NotFound(`not_found`) when the caller names a code for it (a payment the
    provider does not know is an answer, not a failure); otherwise every 4xx is a refusal."""
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds) as client:
            response = await client.request(
                method, path, headers=dict(headers or {}), json=json_body, params=params, auth=auth
            )
    except httpx.TimeoutException:
        log.warning("%s: %s %s timed out after %.1f s", provider, method, path, timeout_seconds)
        raise unavailable(provider, reason="timeout") from None
    except httpx.HTTPError as error:
        log.warning("%s: %s %s failed: %s", provider, method, path, type(error).__name__)
        raise unavailable(provider, reason="unreachable") from None
    status = response.status_code
    if status < 300:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            log.warning("%s: %s %s answered %d with no JSON", provider, method, path, status)
            raise unavailable(provider, reason="unreadable answer") from None
    detail = _describe(response, describe)
    log.warning("%s: %s %s refused with %d: %s", provider, method, path, status, detail)
    if status == 404 and not_found is not None:
        raise NotFound(not_found, f"The payment provider {provider} does not know this payment.")
    if status >= 500 or status in RETRYABLE:
        raise unavailable(provider, reason=f"HTTP {status}", provider_detail=detail)
    raise refused(provider, status=status, provider_detail=detail)


def _describe(response: httpx.Response, describe: Describe) -> str:
    try:
        document = response.json()
    except (ValueError, json.JSONDecodeError):
        return response.text[:200] or response.reason_phrase
    try:
        return describe(document)[:500]
    except (AttributeError, KeyError, TypeError):
        return json.dumps(document)[:500]
