"""Logins to Vault for the vault backend: TLS client certificate (`auth/cert`)
and AWS (`auth/aws`, IAM or EC2), as Kong Mesh does.

All functions here block (botocore, requests): the backend calls them in its
worker threads. Nothing here logs or returns credentials other than the
login payload that is sent to Vault.
"""
from __future__ import annotations

import base64
import json
import os
from typing import Any

import hvac
import requests

IAM_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
IAM_SERVER_ID_HEADER = "X-Vault-AWS-IAM-Server-ID"
IMDS_DEFAULT_ENDPOINT = "http://169.254.169.254"
IMDS_TIMEOUT = 2.0


class AuthSetupError(Exception):
    """The login could not be built (no AWS credentials, no instance metadata)."""


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def sts_endpoint(region: str) -> str:
    """Vault's default STS endpoint is global (us-east-1); other regions use theirs."""
    if not region or region == "us-east-1":
        return "https://sts.amazonaws.com/"
    return f"https://sts.{region}.amazonaws.com/"


def iam_login_payload(role: str = "", server_id: str = "", *, session: Any = None) -> dict[str, str]:
    """A SigV4-signed sts:GetCallerIdentity request, in the shape Vault's aws
    auth method expects, with credentials from botocore's default chain."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = session or botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise AuthSetupError("no AWS credentials found in the default chain (environment, shared files, "
                             "web identity, container or instance role)")
    region = session.get_config_variable("region") or "us-east-1"
    url = sts_endpoint(region)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if server_id:
        headers[IAM_SERVER_ID_HEADER] = server_id
    request = AWSRequest(method="POST", url=url, data=IAM_BODY, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "sts", region).add_auth(request)
    signed_headers = {k: [v] for k, v in request.headers.items()}
    payload = {
        "iam_http_request_method": "POST",
        "iam_request_url": _b64(url),
        "iam_request_body": _b64(IAM_BODY),
        "iam_request_headers": _b64(json.dumps(signed_headers)),
    }
    if role:
        payload["role"] = role
    return payload


def imds_endpoint() -> str:
    """The instance metadata endpoint; overridable as in botocore."""
    return (os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or IMDS_DEFAULT_ENDPOINT).rstrip("/")


def ec2_login_payload(role: str, nonce: str, *, session: requests.Session | None = None) -> dict[str, str]:
    """The instance identity document (PKCS7) from IMDSv2, for `auth/aws/login`."""
    http = session or requests.Session()
    base = imds_endpoint()
    try:
        token = http.put(f"{base}/latest/api/token", timeout=IMDS_TIMEOUT,
                         headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
        token.raise_for_status()
        doc = http.get(f"{base}/latest/dynamic/instance-identity/pkcs7", timeout=IMDS_TIMEOUT,
                       headers={"X-aws-ec2-metadata-token": token.text})
        doc.raise_for_status()
    except requests.RequestException as e:
        raise AuthSetupError(f"cannot read the EC2 instance identity from {base}: {e}") from None
    payload = {"pkcs7": "".join(doc.text.split()), "nonce": nonce}
    if role:
        payload["role"] = role
    return payload


def cert_login(client: hvac.Client) -> dict[str, Any]:
    """Log in with the session's client certificate; returns Vault's auth block."""
    return client.adapter.post("/v1/auth/cert/login", json={})["auth"]


def aws_login(client: hvac.Client, aws_conf: dict[str, Any], nonce: str) -> dict[str, Any]:
    kind = (aws_conf.get("type") or "IAM").upper()
    role = aws_conf.get("role") or ""
    if kind == "EC2":
        payload = ec2_login_payload(role, nonce)
    else:
        payload = iam_login_payload(role, aws_conf.get("iamServerIdHeader") or "")
    return client.adapter.post("/v1/auth/aws/login", json=payload)["auth"]
