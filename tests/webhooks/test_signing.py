"""Signatures per the Standard Webhooks spec, checked with the reference `standardwebhooks` package."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from payments.outbox.signing import new_secret, sign, webhook_headers

BODY = b'{"type":"case.closed","id":"evt_1","version":1,"timestamp":"2026-11-28T06:30:05Z","data":{}}'


def test_a_new_secret_is_whsec_and_32_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_the_headers_verify_with_the_standardwebhooks_package():
    secret = new_secret()
    headers = webhook_headers([secret], "msg_1", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers)["type"] == "case.closed"


def test_the_signature_is_v1_base64_hmac_sha256_of_id_timestamp_and_body():
    # The spec's own test vector (standard-webhooks, "Signature scheme").
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_during_a_rotation_either_secret_verifies():
    old, new = new_secret(), new_secret()
    headers = webhook_headers([new, old], "msg_1", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(BODY, headers) == Webhook(new).verify(BODY, headers)


def test_a_changed_body_does_not_verify():
    secret = new_secret()
    headers = webhook_headers([secret], "msg_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"case.closed", b"case.updated"), headers)
