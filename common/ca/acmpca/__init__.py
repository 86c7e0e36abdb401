"""`acmpca`: data plane certificates from AWS ACM Private CA (conf.py: the conf,
backend.py: issuing, client.py: boto3 and its errors)."""
from __future__ import annotations

from dataclasses import dataclass

from ...config import duration_field
from ..types import BackendType
from .conf import check


@dataclass
class AcmpcaSettings:
    concurrency: int = 8  # requests in flight per backend (boto3 blocks: each takes a worker thread)
    timeout_seconds: float = duration_field(10.0, "connect and read timeout of one call")
    throttle_attempts: int = 5  # calls per operation while throttled
    backoff_base_seconds: float = duration_field(0.1)
    backoff_cap_seconds: float = duration_field(2.0)
    get_wait_seconds: float = duration_field(10.0, "how long GetCertificate is polled after an issue")
    describe_cache_seconds: float = duration_field(60.0)
    roots_cache_seconds: float = duration_field(30.0)
    # Empty: botocore's own (AWS_ENDPOINT_URL_ACM_PCA, AWS_ENDPOINT_URL, else AWS's regional endpoint).
    endpoint_url: str = ""


TYPE = BackendType("acmpca", check, "common.ca.acmpca.backend")
