"""Webhook signatures (Standard Webhooks): no server needed."""

import base64
import unittest

from inferq import WebhookVerificationError, sign_webhook, verify_webhook

# The example of the Standard Webhooks specification and its reference libraries.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MESSAGE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = '{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature: str = SIGNATURE, timestamp: int = TIMESTAMP, message_id: str = MESSAGE_ID) -> dict:
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


class SignatureTest(unittest.TestCase):
    def test_signs_the_specification_example(self) -> None:
        self.assertEqual(sign_webhook(SECRET, MESSAGE_ID, TIMESTAMP, BODY), SIGNATURE)
        self.assertEqual(sign_webhook(SECRET, MESSAGE_ID, TIMESTAMP, BODY.encode()), SIGNATURE)

    def test_accepts_the_example_within_the_tolerance(self) -> None:
        self.assertTrue(verify_webhook(SECRET, BODY, headers(), now=TIMESTAMP + 299))
        self.assertTrue(verify_webhook(SECRET, BODY.encode(), headers(), now=TIMESTAMP - 299))

    def test_header_names_in_any_case_and_several_signatures(self) -> None:
        mixed = {"Webhook-Id": MESSAGE_ID, "WEBHOOK-TIMESTAMP": str(TIMESTAMP), "Webhook-Signature": f"v1,bm90IGl0 {SIGNATURE}"}
        self.assertTrue(verify_webhook(SECRET, BODY, mixed, now=TIMESTAMP))

    def test_refuses(self) -> None:
        other_secret = "whsec_" + base64.b64encode(b"another secret of 24 byte").decode()
        cases = [
            ("a changed body", SECRET, BODY.replace("2432232314", "2432232315"), headers()),
            ("another secret", other_secret, BODY, headers()),
            ("another message id", SECRET, BODY, headers(message_id="msg_other")),
            ("another timestamp", SECRET, BODY, headers(timestamp=TIMESTAMP + 1)),
            ("a signature of another version", SECRET, BODY, headers(signature=SIGNATURE.replace("v1,", "v2,"))),
            ("no signature", SECRET, BODY, {"webhook-id": MESSAGE_ID, "webhook-timestamp": str(TIMESTAMP)}),
            ("a timestamp that is not a number", SECRET, BODY, headers(timestamp="soon")),  # type: ignore[arg-type]
        ]
        for name, secret, body, given in cases:
            with self.subTest(name):
                self.assertFalse(verify_webhook(secret, body, given, now=TIMESTAMP))
                with self.assertRaises(WebhookVerificationError):
                    verify_webhook(secret, body, given, now=TIMESTAMP, raise_on_failure=True)

    def test_refuses_a_replay_outside_the_tolerance(self) -> None:
        self.assertFalse(verify_webhook(SECRET, BODY, headers(), now=TIMESTAMP + 301))
        self.assertFalse(verify_webhook(SECRET, BODY, headers(), now=TIMESTAMP - 301))
        self.assertTrue(verify_webhook(SECRET, BODY, headers(), now=TIMESTAMP + 3600, tolerance=3601))

    def test_a_secret_in_the_url_safe_alphabet_is_the_same_key(self) -> None:
        raw = bytes(range(250, 256)) * 4  # encodes to + and / in standard base64
        standard = "whsec_" + base64.b64encode(raw).decode()
        url_safe = "whsec_" + base64.urlsafe_b64encode(raw).decode()
        self.assertNotEqual(standard, url_safe)
        self.assertEqual(sign_webhook(standard, "m", 1, "{}"), sign_webhook(url_safe, "m", 1, "{}"))

    def test_a_malformed_secret_is_an_error_not_a_false(self) -> None:
        with self.assertRaises(ValueError):
            sign_webhook("whsec_not base64!", "m", 1, "{}")


if __name__ == "__main__":
    unittest.main()
