"""`certmanager` backend conf (Kong Mesh): a cert-manager Issuer signs
CertificateRequests in the system namespace.

    conf:
      issuerRef:
        name: my-ca-issuer         # required
        kind: Issuer               # Issuer (default) or ClusterIssuer in cert-manager.io;
                                   # any kind in an external issuer's group (AWSPCAClusterIssuer)
        group: cert-manager.io     # default cert-manager.io
      commonName: '{{ tag "kuma.io/service" }}.mesh'   # optional
      caCert: <data source>        # optional: the CA that verifies issued certs
      dnsNames: [a.example.com]    # optional extra DNS SANs
"""
from __future__ import annotations

import re
from typing import Any

from ...errors import Violations
from ...schema.datasource import optional_data_source
from ...schema.names import check_name, is_hostname
from ...schema.shape import check_known, check_list, check_mapping, check_str, field, index, one_of, optional
from ..conf_common import check_common_name

ISSUER_KINDS = ("Issuer", "ClusterIssuer")
DEFAULT_KIND = "Issuer"
DEFAULT_GROUP = "cert-manager.io"
KIND_RE = re.compile(r"[A-Z][A-Za-z0-9]{0,62}")  # a Kubernetes kind: CamelCase


def check(v: Violations, conf: dict[str, Any], path: str) -> None:
    check_known(v, conf, path, ("issuerRef", "commonName", "caCert", "dnsNames"))
    ref_path = field(path, "issuerRef")
    ref = conf.get("issuerRef")
    if ref is None:
        v.add(ref_path, "is required: the cert-manager Issuer or ClusterIssuer, e.g. {name: my-ca-issuer}")
    elif check_mapping(v, ref, ref_path):
        _check_issuer_ref(v, ref, ref_path)
    check_common_name(v, conf, path)
    optional_data_source(v, conf, "caCert", path)
    if "dnsNames" in conf and check_list(v, conf["dnsNames"], field(path, "dnsNames")):
        for i, name in enumerate(conf["dnsNames"]):
            p = index(field(path, "dnsNames"), i)
            if check_str(v, name, p) and not is_hostname(name):
                v.add(p, f"{name!r} is not a valid DNS name")


def _check_issuer_ref(v: Violations, ref: dict, path: str) -> None:
    check_known(v, ref, path, ("name", "kind", "group"))
    if not ref.get("name"):
        v.add(field(path, "name"), "is required: the name of the Issuer or ClusterIssuer")
    else:
        check_name(v, ref["name"], field(path, "name"))
    group = ref.get("group") or DEFAULT_GROUP
    if ref.get("group") and optional(v, ref, "group", path, check_str) and not is_hostname(ref["group"]):
        v.add(field(path, "group"), f"{ref['group']!r} is not an API group; the default is {DEFAULT_GROUP}")
    if not ref.get("kind"):
        return
    if group == DEFAULT_GROUP:
        one_of(v, ref["kind"], field(path, "kind"), ISSUER_KINDS)
    elif check_str(v, ref["kind"], field(path, "kind")) and not KIND_RE.fullmatch(ref["kind"]):
        # cert-manager hands any kind of an external group to that issuer's controller.
        v.add(field(path, "kind"), f"{ref['kind']!r} is not a Kubernetes kind: use the issuer's CamelCase "
                                   f"kind, e.g. AWSPCAClusterIssuer for group awspca.cert-manager.io")
