"""Wire types of the InferQ API, as the JSON arrives (plain dicts, typed).

Terminology
- job: one image submitted for inference; ``status`` moves queued -> running -> succeeded | failed | canceled,
  or queued -> expired when it did not start within its ``ttlSeconds``.
- model / model version: the network that runs the job, and one immutable build of it.
- webhook: a URL the platform POSTs the job to once it is final, signed with your webhook secret.

tests/test_openapi.py checks every TypedDict here against the server's OpenAPI document: the same
fields, the same JSON types, null where the document allows null.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, TypedDict

JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled", "expired"]
FINAL_STATUSES: "frozenset[str]" = frozenset({"succeeded", "failed", "canceled", "expired"})


class JobModel(TypedDict):
    name: str
    #: The version that produced the result; None until a worker ran it.
    version: Optional[str]
    #: The engine that ran it (``onnxruntime-cpu``, ``tfjs-wasm``, ...); None until a worker ran it.
    engine: Optional[str]
    requestedVersion: Optional[str]


class JobInput(TypedDict):
    format: str
    width: int
    height: int
    bytes: int
    #: The uploaded file's name, sanitized; None when none was sent.
    fileName: Optional[str]
    # The uploaded file's name, sanitized by the server; None when none was sent.
    fileName: Optional[str]


class LabelScore(TypedDict):
    label: str
    score: float


class ProtocolTensor(TypedDict):
    """One output tensor in the Open Inference Protocol's shape."""

    name: str
    datatype: str
    shape: List[int]
    #: The elements in row-major order (numbers; BOOL as True/False).
    data: List[Any]


class JobResult(TypedDict):
    #: Raw output vector(s) of the model, one per output tensor.
    output: List[List[float]]
    #: Decoded labels with scores, best first (classifiers only).
    top: Optional[List[LabelScore]]
    #: A tensor model's outputs in the protocol's shape; None for an image model.
    outputs: Optional[List[ProtocolTensor]]
    #: A tensor model's reading of its outputs: ``{"kind": "classification", "top": [[...]]}``,
    #: ``{"kind": "embedding", "vectors": [[...]]}``, ``{"kind": "detection", "detections": [[{"box", "score", "class", "label"}]]}``
    #: or ``{"kind": "raw"}``; None for an image model.
    reading: Any


class _InferOutputTensorFields(TypedDict):
    name: str
    datatype: str
    shape: List[int]


class InferOutputTensor(_InferOutputTensorFields, total=False):
    #: ``{"binary_data_size": n}`` when the output came as binary data (then no ``data``).
    parameters: Any
    data: List[Any]


class _InferResponseFields(TypedDict):
    model_name: str
    model_version: str
    outputs: List[InferOutputTensor]


class InferResponse(_InferResponseFields, total=False):
    """The answer to ``POST /v2/models/{name}/infer``."""

    #: The request's ``id``, when it sent one.
    id: str
    parameters: Any


class TensorMetadata(TypedDict):
    name: str
    datatype: str
    #: -1 is a dynamic axis.
    shape: List[int]


class ModelMetadata(TypedDict):
    """A model's inputs and outputs (``GET /v2/models/{name}``)."""

    name: str
    versions: List[str]
    platform: str
    inputs: List[TensorMetadata]
    outputs: List[TensorMetadata]


class JobError(TypedDict):
    code: str
    message: str


class JobTimings(TypedDict):
    queueWaitMs: Optional[int]
    #: From the attempt's start to its model batch's start (preprocessing, waiting for the batch).
    heldMs: Optional[int]
    inferenceMs: Optional[int]
    totalMs: Optional[int]


class JobLinks(TypedDict):
    self: str


WebhookEventFilter = Literal["started", "completed"]


class JobWebhook(TypedDict):
    url: str
    #: The events it is sent: started (the job began running), completed (its final state).
    events: List[WebhookEventFilter]
    deliveries: str


class JobDeadlines(TypedDict):
    #: The job must start by then (``ttl_seconds`` after its submit), or it becomes ``expired``; None: no ttl.
    startBy: Optional[str]
    #: An attempt running longer fails with DEADLINE_EXCEEDED (``cancel_after``); None: none.
    cancelAfterSeconds: Optional[float]


class Job(TypedDict):
    id: str
    status: JobStatus
    model: JobModel
    input: JobInput
    #: The metadata given at submit (string keys and values); {} when none.
    metadata: Dict[str, str]
    attempts: int
    result: Optional[JobResult]
    error: Optional[JobError]
    createdAt: str
    startedAt: Optional[str]
    finishedAt: Optional[str]
    #: When the job, its image and its result are deleted (the tier's retention); None when kept.
    expiresAt: Optional[str]
    timings: JobTimings
    links: JobLinks
    #: "worker" while the job is queued and no live worker serves its model; else None.
    waitingFor: Optional[Literal["worker"]]
    #: A queued job's place in its model's queue, 1 being next; None when not queued.
    queuePosition: Optional[int]
    #: Estimated seconds until a queued job finishes; None when not queued or not known.
    etaSeconds: Optional[float]
    deadlines: JobDeadlines
    webhook: Optional[JobWebhook]


class JobList(TypedDict):
    data: List[Job]
    #: Pass back as ``cursor`` for the next page; None on the last one.
    nextCursor: Optional[str]


class WebhookDelivery(TypedDict):
    id: str
    attempt: int
    event: WebhookEventFilter
    url: str
    #: The receiver's HTTP status; None when no answer came.
    statusCode: Optional[int]
    error: Optional[str]
    durationMs: Optional[int]
    createdAt: str


class WebhookDeliveryList(TypedDict):
    data: List[WebhookDelivery]


class AccountUser(TypedDict):
    id: str
    email: str
    role: Literal["user", "admin"]


class AccountTier(TypedDict):
    name: str
    submitsPerWindow: int
    rateWindowSeconds: int
    maxJobsInFlight: int
    maxUploadBytes: int
    maxPixels: int
    maxBatchImages: int
    retentionDays: int


class AccountUsage(TypedDict):
    #: Jobs submitted in the tier's rate window.
    submitsInWindow: int
    #: Queued and running now.
    jobsInFlight: int


class Account(TypedDict):
    user: AccountUser
    tier: AccountTier
    usage: AccountUsage


class AccountDeletion(TypedDict):
    """What :meth:`InferQClient.delete_account` erased."""

    userId: str
    email: str
    #: Jobs deleted with their images, results and webhook deliveries (queued and running ones too).
    jobsDeleted: int
