"""InferQ: submit images for inference and read their results.

    from inferq import InferQClient
    client = InferQClient("http://127.0.0.1:3000", api_key="iq_...")
    job = client.run("photo.jpg")
    print(job["status"], job["result"]["top"][0])
"""

from .client import MAX_SERVER_WAIT_SECONDS, ImageInput, InferQClient, describe_status, retry_after_seconds
from .errors import InferQError
from .types import (
    FINAL_STATUSES,
    Account,
    AccountDeletion,
    AccountTier,
    AccountUsage,
    AccountUser,
    InferOutputTensor,
    InferResponse,
    Job,
    JobError,
    JobInput,
    JobLinks,
    JobList,
    JobModel,
    JobResult,
    JobStatus,
    JobTimings,
    JobWebhook,
    LabelScore,
    ModelMetadata,
    ProtocolTensor,
    TensorMetadata,
    WebhookDelivery,
    WebhookDeliveryList,
)
from .webhooks import WebhookVerificationError, sign_webhook, verify_webhook

__version__ = "0.1.0"

__all__ = [
    "Account",
    "AccountDeletion",
    "AccountTier",
    "AccountUsage",
    "AccountUser",
    "FINAL_STATUSES",
    "ImageInput",
    "InferQClient",
    "InferQError",
    "Job",
    "JobError",
    "JobInput",
    "JobLinks",
    "JobList",
    "JobModel",
    "InferOutputTensor",
    "InferResponse",
    "JobResult",
    "JobStatus",
    "JobTimings",
    "JobWebhook",
    "LabelScore",
    "ModelMetadata",
    "ProtocolTensor",
    "TensorMetadata",
    "MAX_SERVER_WAIT_SECONDS",
    "WebhookDelivery",
    "WebhookDeliveryList",
    "WebhookVerificationError",
    "describe_status",
    "retry_after_seconds",
    "sign_webhook",
    "verify_webhook",
]
