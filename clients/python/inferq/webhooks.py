"""Checking the signature of a webhook delivery (Standard Webhooks, https://www.standardwebhooks.com).

Each delivery carries ``webhook-id``, ``webhook-timestamp`` (unix seconds) and ``webhook-signature``
(space-separated ``v1,<base64 HMAC-SHA256>`` entries) over ``"<id>.<timestamp>.<raw body>"``,
keyed with the bytes your secret (``whsec_<base64>``) encodes. Use the raw body, before parsing it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Mapping, Optional, Union

__all__ = ["verify_webhook", "sign_webhook", "WebhookVerificationError"]

#: Deliveries older or newer than this (seconds) are refused: a captured one cannot be replayed later.
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """Why a delivery was refused (``verify_webhook(..., raise_on_failure=True)``)."""


def _secret_key(secret: str) -> bytes:
    encoded = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    # Either base64 alphabet: the same bytes.
    encoded = encoded.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the webhook secret is not whsec_<base64>") from exc


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def sign_webhook(secret: str, message_id: str, timestamp: int, body: Union[bytes, str]) -> str:
    """The ``webhook-signature`` value for one delivery (``v1,<base64>``)."""
    payload = body.encode() if isinstance(body, str) else body
    digest = hmac.new(_secret_key(secret), f"{message_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    secret: str,
    body: Union[bytes, str],
    headers: Mapping[str, str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: Optional[float] = None,
    raise_on_failure: bool = False,
) -> bool:
    """True when the delivery was signed with ``secret`` within ``tolerance`` seconds of now.

    ``headers`` is any mapping (names in any case): a framework's request headers as they are.
    """
    try:
        message_id = _header(headers, "webhook-id")
        timestamp_text = _header(headers, "webhook-timestamp")
        signatures = _header(headers, "webhook-signature")
        if not message_id or not timestamp_text or not signatures:
            raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
        try:
            timestamp = int(timestamp_text)
        except ValueError:
            raise WebhookVerificationError("webhook-timestamp is not a number") from None
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance:
            raise WebhookVerificationError("webhook-timestamp is too old or too new")
        expected = sign_webhook(secret, message_id, timestamp, body)
        for candidate in signatures.split(" "):
            if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected.encode()):
                return True
        raise WebhookVerificationError("no signature matches")
    except WebhookVerificationError:
        if raise_on_failure:
            raise
        return False
