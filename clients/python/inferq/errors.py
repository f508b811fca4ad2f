"""InferQError: every failed call, with the API's stable error code."""

from __future__ import annotations

from typing import Any, Optional


class InferQError(Exception):
    """A failed call. Match ``code`` (``JOB_NOT_FOUND``, ``RATE_LIMITED``, ...), never the message.

    Client-side codes, with ``status`` 0: ``NETWORK_ERROR`` (no answer), ``WAIT_TIMEOUT`` (the job
    was not final in time; it was submitted, and ``job`` is the job as last read),
    ``INVALID_RESPONSE`` (an answer that is not the API's JSON).
    """

    def __init__(self, code: str, status: int, message: str, details: Any = None, request_id: Optional[str] = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.details = details
        self.request_id = request_id

    @property
    def job(self) -> Any:
        """``WAIT_TIMEOUT``: the job as last read (its ``id``, ``status``, ``waitingFor``); else None."""
        if isinstance(self.details, dict):
            return self.details.get("job")
        return None

    def __repr__(self) -> str:
        return f"InferQError(code={self.code!r}, status={self.status!r}, message={self.message!r})"
