"""InferQClient: the InferQ API from Python, standard library only (http.client)."""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import ssl
import os
import time
import uuid
from typing import Any, BinaryIO, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, cast
from urllib import parse, request

from .errors import InferQError
from .types import FINAL_STATUSES, Account, AccountDeletion, InferResponse, Job, JobList, JobStatus, ModelMetadata, WebhookDeliveryList

#: An image: a path, its bytes, or a binary file object.
ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]

#: The longest a request may ask the server to hold its answer (``?wait=``, ``Prefer: wait=``), in seconds.
MAX_SERVER_WAIT_SECONDS = 60

__all__ = ["InferQClient", "ImageInput", "MAX_SERVER_WAIT_SECONDS", "describe_status", "retry_after_seconds"]


def retry_after_seconds(header: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Retry-After in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _read_image(image: ImageInput, filename: Optional[str]) -> Tuple[bytes, str]:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image), filename or "image"
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        with open(path, "rb") as file:
            return file.read(), filename or os.path.basename(path)
    data = image.read()
    name = filename or os.path.basename(str(getattr(image, "name", "") or "")) or "image"
    return bytes(data), name


def _multipart(fields: Mapping[str, str], image: bytes, filename: str) -> Tuple[bytes, str]:
    boundary = f"inferq-{uuid.uuid4().hex}"
    parts: List[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    # Quotes and line breaks would end the header early; the server never trusts the name anyway.
    safe_name = filename.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{safe_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    parts.append(image)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class InferQClient:
    """A typed client of the InferQ API. Failed calls raise :class:`InferQError` with the API's code.

    ``429`` and ``503`` answers (nothing was stored, so a retry is safe) are retried up to
    ``max_retries`` times, waiting what ``Retry-After`` says, at most ``max_retry_delay`` seconds.
    ``on_retry(status, delay_seconds, attempt)`` is called before each such wait.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = 90.0,
        max_retries: int = 3,
        max_retry_delay: float = 30.0,
        on_retry: Optional[Callable[[int, float, int], None]] = None,
        user_agent: str = "inferq-python/0.1.0",
    ) -> None:
        base_url = base_url or os.environ.get("INFERQ_BASE_URL") or "http://localhost:3000"
        api_key = api_key or os.environ.get("INFERQ_API_KEY")
        if not api_key:
            raise TypeError("api_key is required (or set INFERQ_API_KEY)")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_retry_delay = max_retry_delay
        self._on_retry = on_retry
        self._user_agent = user_agent

    # Jobs

    def submit(
        self,
        image: ImageInput,
        *,
        model: Optional[str] = None,
        version: Optional[str] = None,
        webhook: Optional[str] = None,
        webhook_events: Optional[Sequence[str]] = None,
        idempotency_key: Optional[str] = None,
        filename: Optional[str] = None,
        wait_seconds: int = 0,
        ttl_seconds: Optional[int] = None,
        cancel_after: Optional[Union[int, float, str]] = None,
        metadata: Optional[Mapping[str, str]] = None,
    ) -> Job:
        """Submits an image: the queued job, or the finished one when ``wait_seconds`` sufficed.

        ``webhook_events``: which events the webhook is sent, ``started`` and/or ``completed``
        (the default). ``ttl_seconds``: the job must start within this long, or it ends
        ``expired`` (never run, not counted against the quota). ``cancel_after``: the execution
        deadline of each attempt, seconds or a duration such as ``"5m"`` (sent as ``Cancel-After``);
        an attempt running longer fails with ``DEADLINE_EXCEEDED``.
        ``metadata``: your own labels, at most 20 string keys (40 characters) and
        values (500 characters), returned on the job and its webhooks and filterable in :meth:`list`.
        """
        data, name = _read_image(image, filename)
        events = ",".join(webhook_events) if webhook_events else None
        ttl = str(ttl_seconds) if ttl_seconds is not None else None
        labels = json.dumps(dict(metadata), separators=(",", ":")) if metadata else None
        fields = {key: value for key, value in (("model", model), ("version", version), ("webhook", webhook), ("webhookEvents", events), ("ttlSeconds", ttl), ("metadata", labels)) if value}
        body, content_type = _multipart(fields, data, name)
        headers = {"Content-Type": content_type}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if wait_seconds:
            headers["Prefer"] = f"wait={min(max(0, int(wait_seconds)), MAX_SERVER_WAIT_SECONDS)}"
        if cancel_after is not None:
            headers["Cancel-After"] = str(cancel_after)
        return cast(Job, self._request("POST", "/v1/jobs", body=body, headers=headers))

    def submit_url(
        self,
        image_url: str,
        *,
        model: Optional[str] = None,
        version: Optional[str] = None,
        webhook: Optional[str] = None,
        webhook_events: Optional[Sequence[str]] = None,
        idempotency_key: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        wait_seconds: int = 0,
    ) -> Job:
        """Submits an image by its URL; the server fetches it before it answers.

        A URL the server refuses raises ``INVALID_INPUT_URL`` (never fetched); one it cannot
        fetch, ``INPUT_FETCH_FAILED``.
        """
        return self._submit_reference({"imageUrl": image_url}, model, version, webhook, webhook_events, idempotency_key, ttl_seconds, wait_seconds)

    def submit_upload(
        self,
        upload_id: str,
        *,
        model: Optional[str] = None,
        version: Optional[str] = None,
        webhook: Optional[str] = None,
        webhook_events: Optional[Sequence[str]] = None,
        idempotency_key: Optional[str] = None,
        ttl_seconds: Optional[int] = None,
        wait_seconds: int = 0,
    ) -> Job:
        """Submits an upload made with ``create_upload`` (and PUT where it said)."""
        return self._submit_reference({"uploadId": upload_id}, model, version, webhook, webhook_events, idempotency_key, ttl_seconds, wait_seconds)

    def create_upload(self, content_type: str, size: int) -> Dict[str, Any]:
        """Asks where to PUT an image of ``size`` bytes: ``{uploadId, url, headers, expiresAt}``.

        PUT the bytes to ``url`` with exactly ``headers`` (and your ``Authorization`` header when
        ``url`` is this API's own), then call ``submit_upload(uploadId)``.
        """
        body = json.dumps({"contentType": content_type, "size": size}).encode()
        return cast(Dict[str, Any], self._request("POST", "/v1/uploads", body=body, headers={"Content-Type": "application/json"}))

    def _submit_reference(
        self,
        reference: Dict[str, str],
        model: Optional[str],
        version: Optional[str],
        webhook: Optional[str],
        webhook_events: Optional[Sequence[str]],
        idempotency_key: Optional[str],
        ttl_seconds: Optional[int],
        wait_seconds: int,
    ) -> Job:
        fields: Dict[str, Any] = dict(reference)
        for key, value in (("model", model), ("version", version), ("webhook", webhook), ("webhookEvents", ",".join(webhook_events) if webhook_events else None), ("ttlSeconds", ttl_seconds)):
            if value:
                fields[key] = value
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if wait_seconds:
            headers["Prefer"] = f"wait={min(max(0, int(wait_seconds)), MAX_SERVER_WAIT_SECONDS)}"
        return cast(Job, self._request("POST", "/v1/jobs", body=json.dumps(fields).encode(), headers=headers))

    def infer(
        self,
        model: str,
        inputs: Sequence[Mapping[str, Any]],
        *,
        outputs: Optional[Sequence[str]] = None,
        version: Optional[str] = None,
        request_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
        timeout: float = 300.0,
    ) -> InferResponse:
        """Runs a tensor model through the Open Inference Protocol and returns its outputs.

        ``inputs``: the protocol's input tensors, ``{"name", "datatype", "shape", "data"}``
        (``data`` flat or nested, row-major). ``outputs``: the outputs to return, by name
        (all when None). The server holds the request until the job is final (up to a minute);
        should that run out, the job is waited for by id. A failed job raises its code.
        """
        started = time.monotonic()
        answer = self._infer(model, inputs, outputs, version, request_id, idempotency_key, f"wait={MAX_SERVER_WAIT_SECONDS}")
        if "model_name" in answer:
            return cast(InferResponse, answer)
        job = self.wait(answer["id"], timeout=max(1.0, timeout - (time.monotonic() - started)))
        result = job.get("result")
        if job["status"] != "succeeded" or not result or result.get("outputs") is None:
            error = job.get("error") or {"code": "INTERNAL", "message": f"The job ended {job['status']}."}
            raise InferQError(error["code"], 0, error["message"], {"job": job})
        response: InferResponse = {"model_name": job["model"]["name"], "model_version": job["model"]["version"] or "", "outputs": cast(Any, result["outputs"])}
        if request_id is not None:
            response["id"] = request_id
        return response

    def infer_async(
        self,
        model: str,
        inputs: Sequence[Mapping[str, Any]],
        *,
        outputs: Optional[Sequence[str]] = None,
        version: Optional[str] = None,
        request_id: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> Job:
        """Submits a tensor inference as a job and returns it at once (``Prefer: respond-async``);
        ``wait(job["id"])`` gives ``result["outputs"]`` and ``result["reading"]``."""
        return cast(Job, self._infer(model, inputs, outputs, version, request_id, idempotency_key, "respond-async"))

    def model_metadata(self, model: str, *, version: Optional[str] = None) -> ModelMetadata:
        """A model's inputs and outputs as the protocol describes them."""
        return cast(ModelMetadata, self._request("GET", _protocol_path(model, version, "")))

    def _infer(self, model: str, inputs: Sequence[Mapping[str, Any]], outputs: Optional[Sequence[str]], version: Optional[str], request_id: Optional[str], idempotency_key: Optional[str], prefer: str) -> Dict[str, Any]:
        body: Dict[str, Any] = {"inputs": [dict(tensor) for tensor in inputs]}
        if outputs is not None:
            body["outputs"] = [{"name": name} for name in outputs]
        if request_id is not None:
            body["id"] = request_id
        headers = {"Content-Type": "application/json", "Prefer": prefer}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return cast(Dict[str, Any], self._request("POST", _protocol_path(model, version, "/infer"), body=json.dumps(body).encode(), headers=headers))

    def get(self, job_id: str) -> Job:
        return cast(Job, self._request("GET", f"/v1/jobs/{parse.quote(job_id, safe='')}"))

    def wait(self, job_id: str, *, timeout: float = 300.0, on_update: Optional[Callable[[Job], None]] = None) -> Job:
        """Returns once the job is final (check ``status``). The server holds each request up to
        60 s (``?wait=``), so this is a few requests, not a polling loop.

        ``on_update(job)`` is called with each answer that is not final yet. When ``timeout`` runs
        out first, raises ``WAIT_TIMEOUT`` whose ``job`` is the job as last read: it was submitted
        and stays queued or running (``waitingFor == "worker"`` while no live worker serves its
        model)."""
        deadline = time.monotonic() + timeout
        while True:
            seconds = int(max(0, min(MAX_SERVER_WAIT_SECONDS, deadline - time.monotonic())))
            job = cast(Job, self._request("GET", f"/v1/jobs/{parse.quote(job_id, safe='')}", query={"wait": seconds}))
            if job["status"] in FINAL_STATUSES:
                return job
            if seconds == 0 or time.monotonic() >= deadline:
                raise _wait_timeout(job, timeout)
            if on_update:
                on_update(job)

    def run(self, image: ImageInput, *, timeout: float = 300.0, on_update: Optional[Callable[[Job], None]] = None, **submit_options: Any) -> Job:
        """Submits and waits: the final job. A wait that runs out raises ``WAIT_TIMEOUT`` with the
        submitted job (see :meth:`wait`)."""
        started = time.monotonic()
        submit_options.setdefault("wait_seconds", int(min(MAX_SERVER_WAIT_SECONDS, timeout)))
        job = self.submit(image, **submit_options)
        if job["status"] in FINAL_STATUSES:
            return job
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0:
            raise _wait_timeout(job, timeout)
        if on_update:
            on_update(job)
        return self.wait(job["id"], timeout=remaining, on_update=on_update)

    def list(
        self,
        *,
        status: Union[JobStatus, Sequence[JobStatus], None] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        model: Union[str, Sequence[str], None] = None,
        version: Union[str, Sequence[str], None] = None,
        error_code: Union[str, Sequence[str], None] = None,
        created_after: Optional[str] = None,
        created_before: Optional[str] = None,
        metadata: Optional[Mapping[str, str]] = None,
    ) -> JobList:
        """One page of your jobs, newest first; pass ``nextCursor`` back as ``cursor`` for the next.

        Every filter narrows the page: ``metadata`` keeps jobs whose metadata has each key with
        exactly that value; ``created_after`` / ``created_before`` are ISO 8601 date-times."""

        def joined(value: Union[str, Sequence[str], None]) -> Optional[str]:
            return value if isinstance(value, str) or value is None else ",".join(value)

        query: Dict[str, Any] = {
            "status": joined(status),
            "model": joined(model),
            "version": joined(version),
            "errorCode": joined(error_code),
            "createdAfter": created_after,
            "createdBefore": created_before,
            "limit": limit,
            "cursor": cursor,
        }
        for key, value in (metadata or {}).items():
            query[f"metadata[{key}]"] = value
        return cast(JobList, self._request("GET", "/v1/jobs", query=query))

    def list_all(self, *, status: Union[JobStatus, Sequence[JobStatus], None] = None, limit: Optional[int] = None, **filters: Any) -> Iterator[Job]:
        """Every job, page after page (the filters of :meth:`list`)."""
        cursor: Optional[str] = None
        while True:
            page = self.list(status=status, limit=limit, cursor=cursor, **filters)
            yield from page["data"]
            cursor = page["nextCursor"]
            if not cursor:
                return

    def cancel(self, job_id: str) -> Job:
        """Cancels a queued or running job; ``JOB_FINISHED`` (409) when it is final already."""
        return cast(Job, self._request("POST", f"/v1/jobs/{parse.quote(job_id, safe='')}/cancel"))

    def delete_job(self, job_id: str) -> None:
        """Deletes a job with its image, result and webhook deliveries, whatever its status (a
        queued or running job is canceled on the way); ``JOB_NOT_FOUND`` afterwards."""
        self._request("DELETE", f"/v1/jobs/{parse.quote(job_id, safe='')}")

    def deliveries(self, job_id: str) -> WebhookDeliveryList:
        """Every attempt to deliver the job's webhook, oldest first."""
        return cast(WebhookDeliveryList, self._request("GET", f"/v1/jobs/{parse.quote(job_id, safe='')}/deliveries"))

    # Models and account

    def models(self) -> Dict[str, Any]:
        """The models the server serves, their versions and readiness (GET /v1/models)."""
        return cast(Dict[str, Any], self._request("GET", "/v1/models"))

    def account(self) -> Account:
        """Who the key belongs to, its tier's limits and how much of them is used now."""
        return cast(Account, self._request("GET", "/v1/account"))

    def delete_account(self, confirm: str) -> AccountDeletion:
        """Deletes the key's account for good: every job with its data, every key, the user.
        ``confirm`` must be the account's email (see :meth:`account`), else ``CONFIRMATION_REQUIRED``
        and nothing changes. This client's key stops working."""
        body = json.dumps({"confirm": confirm}).encode()
        return cast(AccountDeletion, self._request("DELETE", "/v1/account", body=body, headers={"Content-Type": "application/json"}))

    def webhook_secret(self) -> str:
        """The secret that signs your webhooks (``whsec_...``); see :func:`inferq.verify_webhook`."""
        return cast(str, self._request("GET", "/v1/account/webhook-secret")["secret"])

    def rotate_webhook_secret(self) -> str:
        return cast(str, self._request("POST", "/v1/account/webhook-secret")["secret"])

    # Transport

    def _request(self, method: str, path: str, *, query: Optional[Mapping[str, Any]] = None, body: Optional[bytes] = None, headers: Optional[Mapping[str, str]] = None) -> Any:
        pairs = {key: str(value) for key, value in (query or {}).items() if value is not None}
        target = f"{path}?{parse.urlencode(pairs)}" if pairs else path
        all_headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json", "User-Agent": self._user_agent, **(headers or {})}
        attempt = 0
        while True:
            try:
                status, answer_headers, raw = self._exchange(method, target, body, all_headers)
            except (OSError, http.client.HTTPException) as failure:
                raise InferQError("NETWORK_ERROR", 0, f"No answer from {self.base_url}: {failure}") from failure
            if status == 204:
                return None
            if 200 <= status < 300:
                try:
                    return json.loads(raw)
                except ValueError as exc:
                    raise InferQError("INVALID_RESPONSE", status, "The answer is not JSON.") from exc
            if status in (429, 503) and attempt < self._max_retries:
                retry_after = retry_after_seconds(answer_headers.get("Retry-After"))
                delay = min(retry_after if retry_after is not None else 0.5 * 2**attempt, self._max_retry_delay)
                attempt += 1
                if self._on_retry:
                    self._on_retry(status, delay, attempt)
                time.sleep(delay)
                continue
            raise _error_from(status, raw, answer_headers.get("X-Request-Id"))

    def _exchange(self, method: str, target: str, body: Optional[bytes], headers: Mapping[str, str]) -> Tuple[int, "http.client.HTTPMessage", bytes]:
        """One request on a connection of its own: the status, headers and body of the answer.

        The server may answer before it has read the whole body (``413 IMAGE_TOO_LARGE`` on the
        declared length) and close the connection; the rest of the upload then fails with a broken
        pipe or a reset. That answer is read, not reported as a network error. A proxy named by
        ``http_proxy`` / ``https_proxy`` (and not bypassed by ``no_proxy``) is used as urllib would.
        """
        url = parse.urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise InferQError("NETWORK_ERROR", 0, f"{self.base_url} is not an http(s) address")
        timeout = self._timeout + MAX_SERVER_WAIT_SECONDS
        path = f"{url.path.rstrip('/')}{target}"
        headers = dict(headers)
        # As urllib did: http_proxy / https_proxy / no_proxy from the environment.
        proxy = request.getproxies().get(url.scheme)
        if proxy and not request.proxy_bypass(url.hostname):
            via = parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            auth = {}
            if via.username is not None:
                credentials = f"{parse.unquote(via.username)}:{parse.unquote(via.password or '')}".encode()
                auth["Proxy-Authorization"] = f"Basic {base64.b64encode(credentials).decode()}"
            if url.scheme == "https":
                connection: http.client.HTTPConnection = http.client.HTTPSConnection(via.hostname or "", via.port or 80, timeout=timeout, context=ssl.create_default_context())
                connection.set_tunnel(url.hostname, url.port, headers=auth)
            else:
                connection = http.client.HTTPConnection(via.hostname or "", via.port or 80, timeout=timeout)
                path = f"http://{url.netloc.rpartition('@')[2]}{path}"  # absolute form, to a proxy
                headers.update(auth)
        elif url.scheme == "https":
            connection = http.client.HTTPSConnection(url.hostname, url.port, timeout=timeout, context=ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        try:
            try:
                connection.request(method, path, body=body, headers=headers)
            except (BrokenPipeError, ConnectionResetError) as failure:
                try:
                    response = connection.getresponse()
                except (OSError, http.client.HTTPException):
                    raise failure from None
            else:
                response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()


def describe_status(job: Job) -> str:
    """The job's state as a person reads it: ``queued · waiting for a worker`` for a queued job no
    live worker can take (``waitingFor == "worker"``), else its status."""
    if job["status"] == "queued" and job.get("waitingFor") == "worker":
        return "queued · waiting for a worker"
    return job["status"]


def _wait_timeout(job: Job, timeout: float) -> InferQError:
    message = f"Job {job['id']} was submitted and is still {describe_status(job)} after {timeout:g} s; it stays {job['status']}."
    return InferQError("WAIT_TIMEOUT", 0, message, {"job": job})


def _protocol_path(model: str, version: Optional[str], suffix: str) -> str:
    versioned = f"/versions/{parse.quote(version, safe='')}" if version else ""
    return f"/v2/models/{parse.quote(model, safe='')}{versioned}{suffix}"


def _error_from(status: int, raw: bytes, request_id: Optional[str]) -> InferQError:
    try:
        body = json.loads(raw)
        if isinstance(body.get("error"), str) and body.get("code"):
            # The /v2 routes answer the protocol's shape: {"error": "…", "code": "…"}.
            return InferQError(str(body["code"]), status, body["error"], body.get("details"), request_id)
        error = body["error"]
        return InferQError(str(error["code"]), status, str(error.get("message", "")), error.get("details"), request_id)
    except (ValueError, KeyError, TypeError):
        return InferQError("INVALID_RESPONSE", status, f"HTTP {status} without an error body.", None, request_id)
