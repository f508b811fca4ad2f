"""InferQClient against the real API and a worker."""

import http.client
import http.server
import io
import os
import pathlib
import threading
import unittest
import uuid
from typing import Any, Dict, List
from unittest import mock
from urllib import parse

from inferq import InferQClient, InferQError, describe_status

from .live import API_KEY, BASE_URL, ERASABLE_API_KEY, ERASABLE_EMAIL, IMAGE, LIMITED_API_KEY, UNSERVED_MODEL, needs_server

LABELS = ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"]


@needs_server
class ClientTest(unittest.TestCase):
    client: InferQClient

    @classmethod
    def setUpClass(cls) -> None:
        cls.client = InferQClient(BASE_URL, API_KEY)

    def test_run_submits_and_waits_for_the_result(self) -> None:
        job = self.client.run(IMAGE, model="nsfw", timeout=120)
        self.assertEqual(job["status"], "succeeded")
        assert job["result"] is not None and job["result"]["top"] is not None
        self.assertEqual(sorted(entry["label"] for entry in job["result"]["top"]), LABELS)
        self.assertEqual(job["model"]["name"], "nsfw")
        self.assertEqual(self.client.get(job["id"])["status"], "succeeded")

    def test_submit_then_wait_from_a_path_bytes_and_a_file_object(self) -> None:
        data = pathlib.Path(IMAGE).read_bytes()
        jobs = [self.client.submit(IMAGE), self.client.submit(data), self.client.submit(io.BytesIO(data), filename="photo.jpg")]
        for job in jobs:
            self.assertIn(job["status"], ("queued", "running", "succeeded"))
            self.assertEqual(job["input"]["format"], "jpeg")
        finished = [self.client.wait(job["id"], timeout=120) for job in jobs]
        self.assertEqual([job["status"] for job in finished], ["succeeded"] * 3)

    def test_list_pages_and_list_all(self) -> None:
        first = self.client.run(IMAGE, timeout=120)
        second = self.client.run(IMAGE, timeout=120)
        page = self.client.list(limit=1)
        self.assertEqual(len(page["data"]), 1)
        self.assertIsNotNone(page["nextCursor"])
        self.assertEqual(self.client.list(status="succeeded", limit=2)["data"][0]["status"], "succeeded")
        self.assertEqual(self.client.list(status=["failed", "canceled"])["data"], [])
        seen = [job["id"] for job in self.client.list_all(limit=1)]
        self.assertIn(first["id"], seen)
        self.assertIn(second["id"], seen)
        self.assertEqual(len(seen), len(set(seen)))

    def test_metadata_is_returned_and_filters_the_list(self) -> None:
        tag = str(uuid.uuid4())
        tagged = self.client.run(IMAGE, timeout=120, metadata={"batch": tag, "customer": "cus_42"})
        self.client.run(IMAGE, timeout=120, metadata={"batch": "another"})
        self.assertEqual(tagged["metadata"], {"batch": tag, "customer": "cus_42"})
        self.assertEqual(self.client.get(tagged["id"])["metadata"]["batch"], tag)
        found = self.client.list(metadata={"batch": tag}, status="succeeded", model="nsfw")["data"]
        self.assertEqual([job["id"] for job in found], [tagged["id"]])
        self.assertEqual(self.client.list(metadata={"batch": tag}, status="failed")["data"], [])
        self.assertEqual([job["id"] for job in self.client.list_all(metadata={"batch": tag, "customer": "cus_42"})], [tagged["id"]])
        with self.assertRaises(InferQError) as refused:
            self.client.submit(IMAGE, metadata={"k" * 41: "v"})
        self.assertEqual((refused.exception.code, refused.exception.status), ("INVALID_METADATA", 400))

    def test_cancel_of_a_finished_job_is_job_finished(self) -> None:
        job = self.client.run(IMAGE, timeout=120)
        with self.assertRaises(InferQError) as caught:
            self.client.cancel(job["id"])
        self.assertEqual((caught.exception.code, caught.exception.status), ("JOB_FINISHED", 409))

    def test_errors_carry_the_api_code_and_status(self) -> None:
        cases = [
            ("an unknown job", lambda: self.client.get(str(uuid.uuid4())), "JOB_NOT_FOUND", 404),
            ("a bad key", lambda: InferQClient(BASE_URL, "iq_000000000000_nope").list(), "UNAUTHENTICATED", 401),
            ("bytes that are not an image", lambda: self.client.submit(b"not an image at all"), "INVALID_IMAGE", 400),
            ("an unknown model", lambda: self.client.submit(IMAGE, model="no-such-model"), "UNKNOWN_MODEL", 400),
            ("a bad webhook", lambda: self.client.submit(IMAGE, webhook="ftp://example.com/x"), "INVALID_WEBHOOK_URL", 400),
            ("a page size out of range", lambda: self.client.list(limit=1000), "VALIDATION_FAILED", 400),
            ("an image URL to a private address", lambda: self.client.submit_url("https://10.0.0.1/photo.jpg"), "INVALID_INPUT_URL", 400),
            ("an image URL over plain http", lambda: self.client.submit_url("http://example.com/photo.jpg"), "INVALID_INPUT_URL", 400),
            ("an upload id never made", lambda: self.client.submit_upload(str(uuid.uuid4())), "UPLOAD_NOT_FOUND", 404),
        ]
        for name, call, code, status in cases:
            with self.subTest(name):
                with self.assertRaises(InferQError) as caught:
                    call()
                self.assertEqual((caught.exception.code, caught.exception.status), (code, status))

    def test_an_upload_over_the_limit_reads_the_early_413_not_a_broken_pipe(self) -> None:
        # The server refuses on the declared length and closes before reading the 45 MB: the
        # client's send then fails (broken pipe or reset), and the answer is read all the same.
        with self.assertRaises(InferQError) as caught:
            self.client.submit(b"\xff\xd8\xff" + bytes(45 * 1024 * 1024))
        self.assertEqual((caught.exception.code, caught.exception.status), ("IMAGE_TOO_LARGE", 413))
        # The client still works after it.
        self.assertEqual(self.client.run(IMAGE, timeout=120)["status"], "succeeded")

    @unittest.skipUnless(UNSERVED_MODEL, "no model that no worker serves (INFERQ_TEST_UNSERVED_MODEL)")
    def test_a_job_no_worker_serves_waits_for_a_worker_and_a_wait_that_runs_out_keeps_the_job(self) -> None:
        queued = self.client.submit(IMAGE, model=UNSERVED_MODEL)
        self.assertEqual((queued["status"], queued["waitingFor"]), ("queued", "worker"))
        self.assertEqual(describe_status(self.client.get(queued["id"])), "queued · waiting for a worker")
        updates = []
        with self.assertRaises(InferQError) as caught:
            self.client.run(IMAGE, model=UNSERVED_MODEL, timeout=1.5, on_update=updates.append)
        error = caught.exception
        self.assertEqual((error.code, error.status), ("WAIT_TIMEOUT", 0))
        self.assertEqual((error.job["status"], error.job["waitingFor"]), ("queued", "worker"))
        self.assertEqual(self.client.get(error.job["id"])["status"], "queued")
        self.assertEqual([(job["id"], job["waitingFor"]) for job in updates], [(error.job["id"], "worker")])

    def test_goes_through_the_http_proxy_the_environment_names_unless_no_proxy_says_otherwise(self) -> None:
        seen: List[str] = []

        class Forwarding(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                seen.append(self.path)
                target = parse.urlsplit(self.path)
                upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
                try:
                    upstream.request("GET", f"{target.path}?{target.query}" if target.query else target.path, headers={k: v for k, v in self.headers.items() if k.lower() != "proxy-authorization"})
                    answer = upstream.getresponse()
                    body = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type") or "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
                pass

        proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forwarding)
        thread = threading.Thread(target=proxy.serve_forever, daemon=True)
        thread.start()
        try:
            address = f"http://127.0.0.1:{proxy.server_address[1]}"
            through: Dict[str, str] = {"http_proxy": address, "HTTP_PROXY": address, "no_proxy": "", "NO_PROXY": ""}
            with mock.patch.dict(os.environ, through):
                account = self.client.account()
            self.assertIn("user", account)
            self.assertEqual(seen, [f"{BASE_URL.rstrip('/')}/v1/account"])
            with mock.patch.dict(os.environ, {**through, "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}):
                self.client.account()
            self.assertEqual(len(seen), 1)
        finally:
            proxy.shutdown()
            proxy.server_close()

    def test_no_answer_is_network_error(self) -> None:
        with self.assertRaises(InferQError) as caught:
            InferQClient("http://127.0.0.1:9", API_KEY, max_retries=0).list()
        self.assertEqual((caught.exception.code, caught.exception.status), ("NETWORK_ERROR", 0))

    @unittest.skipUnless(LIMITED_API_KEY, "no rate-limited user (INFERQ_TEST_LIMITED_API_KEY)")
    def test_a_429_is_retried_as_retry_after_says_within_its_bound_then_raised(self) -> None:
        retries = []
        limited = InferQClient(BASE_URL, LIMITED_API_KEY, max_retries=2, max_retry_delay=0.05, on_retry=lambda status, delay, attempt: retries.append((status, delay, attempt)))
        limited.submit(IMAGE)
        with self.assertRaises(InferQError) as caught:
            limited.submit(IMAGE)
        self.assertEqual((caught.exception.code, caught.exception.status), ("RATE_LIMITED", 429))
        # Retry-After asks for most of an hour; the bound caps each wait.
        self.assertEqual(retries, [(429, 0.05, 1), (429, 0.05, 2)])

    def test_account_and_webhook_secret(self) -> None:
        account = self.client.account()
        self.assertEqual(account["tier"]["name"], "pro")
        self.assertGreaterEqual(account["usage"]["submitsInWindow"], 0)
        self.assertTrue(self.client.webhook_secret().startswith("whsec_"))

    def test_delete_job_removes_it(self) -> None:
        job = self.client.submit(IMAGE)
        self.assertIsNone(self.client.delete_job(job["id"]))
        with self.assertRaises(InferQError) as caught:
            self.client.get(job["id"])
        self.assertEqual((caught.exception.code, caught.exception.status), ("JOB_NOT_FOUND", 404))

    @unittest.skipUnless(ERASABLE_API_KEY and ERASABLE_EMAIL, "no user to delete (INFERQ_TEST_ERASABLE_API_KEY, INFERQ_TEST_ERASABLE_EMAIL)")
    def test_delete_account_needs_the_email_then_erases_everything(self) -> None:
        erasable = InferQClient(BASE_URL, ERASABLE_API_KEY, max_retries=0)
        erasable.submit(IMAGE)
        with self.assertRaises(InferQError) as caught:
            erasable.delete_account("someone-else@example.com")
        self.assertEqual((caught.exception.code, caught.exception.status), ("CONFIRMATION_REQUIRED", 400))
        deleted = erasable.delete_account(ERASABLE_EMAIL.upper())
        self.assertEqual((deleted["email"], deleted["jobsDeleted"]), (ERASABLE_EMAIL, 1))
        with self.assertRaises(InferQError) as caught:
            erasable.account()
        self.assertEqual(caught.exception.code, "UNAUTHENTICATED")

    def test_models(self) -> None:
        names = [model["name"] for model in self.client.models()["models"]]
        self.assertIn("nsfw", names)


if __name__ == "__main__":
    unittest.main()
