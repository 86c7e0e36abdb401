"""`vault` backend conf (Kong Mesh): Vault's PKI issues data plane certificates.

    conf:
      fromCp:
        address: https://vault:8200       # required, http(s) URL
        agentAddress: ""                  # optional: a Vault Agent URL
        namespace: ""                     # optional (Vault Enterprise)
        pki: kmesh-pki-default            # required: the PKI mount
        role: dataplane-proxies           # required: the PKI role
        commonName: '{{ tag "kuma.io/service" }}.mesh'
        tls: {caCert: <data source>, skipVerify: false, serverName: ""}
        auth:                             # exactly one of:
          token: <data source>
          tls: {clientKey: <data source>, clientCert: <data source>}
          aws: {type: IAM|EC2, role: "", iamServerIdHeader: ""}   # may be empty

`auth` may be left out only with `agentAddress`: the agent then authenticates.
"""
from __future__ import annotations

from typing import Any

from ...errors import Violations
from ...schema.datasource import optional_data_source, required_data_source
from ...schema.names import url_error
from ...schema.shape import check_bool, check_known, check_mapping, check_str, field, one_of, optional, required_str
from ..conf_common import check_common_name

AUTH_METHODS = ("token", "tls", "aws")
AWS_AUTH_TYPES = ("IAM", "EC2")


def check(v: Violations, conf: dict[str, Any], path: str) -> None:
    check_known(v, conf, path, ("fromCp",))
    p = field(path, "fromCp")
    from_cp = conf.get("fromCp")
    if from_cp is None:
        v.add(p, "is required: how the control plane reaches Vault (address, pki, role, auth)")
        return
    if not check_mapping(v, from_cp, p):
        return
    check_known(v, from_cp, p, ("address", "agentAddress", "namespace", "pki", "role", "commonName", "tls", "auth"))
    address = required_str(v, from_cp, "address", p, "the URL of Vault, e.g. https://vault.example.com:8200")
    if address is not None:
        _check_url(v, address, field(p, "address"))
    agent = from_cp.get("agentAddress")
    if optional(v, from_cp, "agentAddress", p, check_str) and agent:
        _check_url(v, agent, field(p, "agentAddress"))
    optional(v, from_cp, "namespace", p, check_str)
    required_str(v, from_cp, "pki", p, "the path the PKI secrets engine is mounted at, e.g. kmesh-pki-default")
    required_str(v, from_cp, "role", p, "the PKI role that issues data plane certificates, e.g. dataplane-proxies")
    check_common_name(v, from_cp, p)
    if "tls" in from_cp:
        _check_tls(v, from_cp["tls"], field(p, "tls"))
    if from_cp.get("auth") is None:
        if not agent:
            v.add(field(p, "auth"), f"is required: set exactly one of {', '.join(AUTH_METHODS)} (or use agentAddress)")
    else:
        _check_auth(v, from_cp["auth"], field(p, "auth"))


def _check_url(v: Violations, value: str, path: str) -> None:
    err = url_error(value)
    if err:
        v.add(path, err)


def _check_tls(v: Violations, tls: Any, path: str) -> None:
    if not check_mapping(v, tls, path):
        return
    check_known(v, tls, path, ("caCert", "skipVerify", "serverName"))
    optional_data_source(v, tls, "caCert", path)
    optional(v, tls, "skipVerify", path, check_bool)
    optional(v, tls, "serverName", path, check_str)


def _check_auth(v: Violations, auth: Any, path: str) -> None:
    if not check_mapping(v, auth, path):
        return
    check_known(v, auth, path, AUTH_METHODS)
    chosen = [m for m in AUTH_METHODS if m in auth]
    if not chosen:
        v.add(path, f"an auth method has to be chosen: set exactly one of {', '.join(AUTH_METHODS)}")
    elif len(chosen) > 1:
        v.add(path, f"has {' and '.join(chosen)}: set exactly one of {', '.join(AUTH_METHODS)}")
    if "token" in auth:
        required_data_source(v, auth, "token", path, "Vault token")
    if "tls" in auth:
        _check_tls_auth(v, auth["tls"], field(path, "tls"))
    if "aws" in auth:
        _check_aws_auth(v, auth["aws"], field(path, "aws"))


def _check_tls_auth(v: Violations, tls: Any, path: str) -> None:
    if not check_mapping(v, tls, path):
        return
    # The seed's Universal example nests `aws` here; say where it belongs.
    if "aws" in tls:
        v.add(field(path, "aws"), "aws is an auth method of its own: move `aws` up one level to "
                                   f"{path.rsplit('.', 1)[0]}.aws, and keep only one auth method")
    check_known(v, {k: x for k, x in tls.items() if k != "aws"}, path, ("clientKey", "clientCert"))
    required_data_source(v, tls, "clientKey", path, "PEM private key of the client certificate")
    required_data_source(v, tls, "clientCert", path, "PEM client certificate")


def _check_aws_auth(v: Violations, aws: Any, path: str) -> None:
    if aws is None:  # "may be empty to use defaults"
        return
    if not check_mapping(v, aws, path):
        return
    check_known(v, aws, path, ("type", "role", "iamServerIdHeader"))
    if "type" in aws and aws["type"] != "":
        one_of(v, aws["type"], field(path, "type"), AWS_AUTH_TYPES)
    optional(v, aws, "role", path, check_str)
    optional(v, aws, "iamServerIdHeader", path, check_str)
