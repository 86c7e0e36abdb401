"""`acmpca` backend conf (Kong Mesh): AWS Certificate Manager Private CA.

    conf:
      arn: arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID   # required
      commonName: '{{ tag "kuma.io/service" }}.mesh'                 # optional
      caCert: <data source>      # optional: verifies ACM's TLS certificate
      auth:                      # optional: else the default AWS credential chain
        awsCredentials:
          accessKey: <data source>
          accessKeySecret: <data source>

The ARN is checked for shape only (partition, service, certificate-authority
resource), not for a real region or account: the seed documents use the
placeholders `region:account`.
"""
from __future__ import annotations

import re
from typing import Any

from ...errors import Violations
from ...schema.datasource import check_data_source, optional_data_source
from ...schema.shape import check_known, check_mapping, field, required_str
from ..conf_common import check_common_name

ARN_PATTERN = re.compile(
    r"^arn:aws(-[a-z]+)*:acm-pca:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:certificate-authority/[A-Za-z0-9_-]+$"
)
_ARN_EXAMPLE = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/12345678-1234-1234-1234-123456789012"
_CREDENTIALS = ("accessKey", "accessKeySecret")


def check(v: Violations, conf: dict[str, Any], path: str) -> None:
    check_known(v, conf, path, ("arn", "commonName", "caCert", "auth"))
    arn = required_str(v, conf, "arn", path, f"the ARN of the private CA, e.g. {_ARN_EXAMPLE}")
    if arn is not None and not ARN_PATTERN.match(arn):
        v.add(field(path, "arn"), f"{arn!r} is not the ARN of an ACM PCA certificate authority; "
                                  f"it looks like {_ARN_EXAMPLE}")
    check_common_name(v, conf, path)
    optional_data_source(v, conf, "caCert", path)
    if conf.get("auth") is not None:
        _check_auth(v, conf["auth"], field(path, "auth"))


def _check_auth(v: Violations, auth: Any, path: str) -> None:
    if not check_mapping(v, auth, path):
        return
    check_known(v, auth, path, ("awsCredentials",))
    creds = auth.get("awsCredentials")
    p = field(path, "awsCredentials")
    if creds is None or not check_mapping(v, creds, p):
        return
    check_known(v, creds, p, _CREDENTIALS)
    given = [k for k in _CREDENTIALS if creds.get(k) is not None]
    if len(given) == 1:
        missing = _CREDENTIALS[1 - _CREDENTIALS.index(given[0])]
        v.add(field(p, missing), f"is required with {given[0]}: give both accessKey and accessKeySecret, "
                                 "or neither to use the default AWS credential chain")
    for k in given:
        check_data_source(v, creds[k], field(p, k))
