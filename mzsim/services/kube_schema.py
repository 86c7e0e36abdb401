"""The schemas mzsim's Kubernetes API validates with (a structural subset of
cert-manager's CRDs and the core kinds), and everything generated from them:
the OpenAPI v3 documents kubectl reads for `explain` and field validation,
and the printer columns of `kubectl get`."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from common.timefmt import parse_time

PRESERVE = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _s(description: str, **kw: Any) -> dict:
    return {"type": "string", "description": description, **kw}


def _obj(description: str, properties: dict, required: tuple[str, ...] = (), **kw: Any) -> dict:
    out = {"type": "object", "description": description, "properties": properties, **kw}
    if required:
        out["required"] = list(required)
    return out


def _map(description: str) -> dict:
    return {"type": "object", "description": description, "additionalProperties": {"type": "string"}}


USAGES = ["signing", "digital signature", "content commitment", "key encipherment", "key agreement",
          "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
          "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
          "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"]

CONDITIONS = {"type": "array", "description": "List of status conditions to indicate the status of the resource.",
              "items": _obj("A condition of the resource.", {
                  "type": _s("Type of the condition (Ready, Approved, Denied, InvalidRequest)."),
                  "status": _s("Status of the condition.", enum=["True", "False", "Unknown"]),
                  "reason": _s("Brief machine-readable reason for the condition's last transition."),
                  "message": _s("Human-readable description of the transition."),
                  "lastTransitionTime": _s("When the condition last changed.", format="date-time"),
                  "observedGeneration": {"type": "integer", "description": "The generation it was set for."},
              }, ("status", "type")),
              "x-kubernetes-list-map-keys": ["type"], "x-kubernetes-list-type": "map"}

ISSUER_REF = _obj("Reference to the issuer responsible for issuing the certificate.", {
    "name": _s("Name of the issuer being referred to."),
    "kind": _s("Kind of the issuer being referred to (Issuer or ClusterIssuer)."),
    "group": _s("Group of the issuer being referred to (cert-manager.io)."),
}, ("name",))

_OTHER_ISSUER = {**PRESERVE, "description": "Issuer type mzsim's controller does not sign for (kept as given)."}
ISSUER_SPEC = _obj("Desired state of the Issuer resource.", {
    "ca": _obj("CA configures this issuer to sign certificates using a signing CA keypair stored in a Secret.", {
        "secretName": _s("Name of the Secret (tls.crt, tls.key) holding the signing CA keypair."),
        "crlDistributionPoints": {"type": "array", "items": {"type": "string"},
                                  "description": "CRL distribution points set on issued certificates."},
        "ocspServers": {"type": "array", "items": {"type": "string"},
                        "description": "OCSP servers set on issued certificates."},
        "issuingCertificateURLs": {"type": "array", "items": {"type": "string"},
                                   "description": "URLs of the issuing certificate set on issued certificates."},
    }, ("secretName",)),
    "acme": {**_OTHER_ISSUER, "description": "ACME issuer (not signed for by mzsim's controller)."},
    "selfSigned": {**_OTHER_ISSUER, "description": "Self-signed issuer (not signed for by mzsim's controller)."},
    "vault": {**_OTHER_ISSUER, "description": "Vault issuer (not signed for by mzsim's controller)."},
    "venafi": {**_OTHER_ISSUER, "description": "Venafi issuer (not signed for by mzsim's controller)."},
})
ISSUER_STATUS = _obj("Status of the Issuer.", {"conditions": CONDITIONS, "acme": PRESERVE})

SCHEMAS: dict[str, dict] = {
    "CertificateRequest": _obj(
        "A CertificateRequest is used to request a signed certificate from one of the configured issuers.", {
            "spec": _obj("Desired state of the CertificateRequest resource.", {
                "request": _s("The PEM-encoded X.509 certificate signing request, base64-encoded.", format="byte"),
                "issuerRef": ISSUER_REF,
                "duration": _s("Requested 'duration' (i.e. lifetime) of the certificate, e.g. 24h0m0s."),
                "isCA": {"type": "boolean", "description": "Requests a CA certificate."},
                "usages": {"type": "array", "description": "Requested key usages and extended key usages.",
                           "items": {"type": "string", "enum": USAGES}},
                "username": _s("Name of the user that created the CertificateRequest."),
                "uid": _s("UID of the user that created the CertificateRequest."),
                "groups": {"type": "array", "items": {"type": "string"},
                           "description": "Groups of the user that created the CertificateRequest."},
                "extra": {"type": "object", "description": "Extra attributes of the user.",
                          "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            }, ("issuerRef", "request")),
            "status": _obj("Status of the CertificateRequest.", {
                "conditions": CONDITIONS,
                "certificate": _s("The PEM-encoded signed certificate, base64-encoded.", format="byte"),
                "ca": _s("The PEM-encoded CA certificate, base64-encoded.", format="byte"),
                "failureTime": _s("When the request failed, with a terminal reason.", format="date-time"),
            }),
        }, ("spec",)),
    "Issuer": _obj("An Issuer represents a certificate issuing authority in one namespace.",
                   {"spec": ISSUER_SPEC, "status": ISSUER_STATUS}, ("spec",)),
    "ClusterIssuer": _obj("A ClusterIssuer represents a certificate issuing authority for every namespace.",
                          {"spec": ISSUER_SPEC, "status": ISSUER_STATUS}, ("spec",)),
    "Namespace": _obj("Namespace provides a scope for Names.", {
        "spec": _obj("Spec of the namespace.", {"finalizers": {"type": "array", "items": {"type": "string"},
                                                               "description": "Finalizers of the namespace."}}),
        "status": _obj("Status of the namespace.", {"phase": _s("Phase of the namespace (Active)."),
                                                     "conditions": {**PRESERVE, "type": "array", "items": PRESERVE}}),
    }),
    "Secret": _obj("Secret holds secret data of a certain type.", {
        "data": {**_map("Secret data, base64-encoded values."), "additionalProperties": {"type": "string",
                                                                                         "format": "byte"}},
        "stringData": _map("Write-only convenience field: plain values, merged into data on write."),
        "type": _s("Used to facilitate programmatic handling of secret data (e.g. kubernetes.io/tls)."),
        "immutable": {"type": "boolean", "description": "If true, the data cannot be updated."},
    }),
    "Event": _obj("Event is a report of an event somewhere in the cluster.", {
        "involvedObject": {**PRESERVE, "description": "The object this event is about."},
        "reason": _s("Short, machine understandable reason for the transition into the object's current status."),
        "message": _s("Human-readable description of the status of this operation."),
        "type": _s("Type of this event (Normal, Warning)."),
        "source": {**PRESERVE, "description": "The component reporting this event."},
        "firstTimestamp": _s("The time at which the event was first recorded.", format="date-time"),
        "lastTimestamp": _s("The time at which the most recent occurrence of this event was recorded.",
                            format="date-time"),
        "eventTime": _s("Time when this Event was first observed.", format="date-time"),
        "count": {"type": "integer", "description": "The number of times this event has occurred."},
        "reportingComponent": _s("Name of the controller that emitted this Event."),
        "reportingInstance": _s("ID of the controller instance."),
        "action": _s("What action was taken/failed regarding to the Regarding object."),
    }),
}

OBJECT_META = _obj("Standard object's metadata.", {
    "name": _s("Name must be unique within a namespace."),
    "generateName": _s("Optional prefix used by the server to generate a unique name."),
    "namespace": _s("Namespace defines the space within which each name must be unique."),
    "labels": _map("Map of string keys and values that can be used to organize and categorize objects."),
    "annotations": _map("Unstructured key value map stored with a resource."),
    "uid": _s("UID is the unique in time and space value for this object (set by the server)."),
    "resourceVersion": _s("An opaque value that represents the internal version of this object."),
    "creationTimestamp": _s("When this object was created (set by the server).", format="date-time"),
    "generation": {"type": "integer", "description": "A sequence number representing a specific generation."},
    "finalizers": {"type": "array", "items": {"type": "string"}, "description": "Finalizers (not acted on)."},
    "ownerReferences": {"type": "array", "items": PRESERVE, "description": "Owners (not garbage-collected)."},
    "managedFields": {"type": "array", "items": PRESERVE, "description": "Field managers (not tracked)."},
    "deletionTimestamp": _s("When this object will be deleted.", format="date-time"),
    "deletionGracePeriodSeconds": {"type": "integer", "description": "Seconds allowed for graceful deletion."},
})
META_REF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


# -- validation ------------------------------------------------------------------
class SchemaErrors:
    def __init__(self) -> None:
        self.invalid: list[tuple[str, str]] = []  # (field, "Invalid value: ...")
        self.unknown: list[str] = []


def _type_of(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def check(schema: dict, value: Any, path: str, errs: SchemaErrors) -> Any:
    """`value` with fields the schema does not declare pruned (and listed in
    errs.unknown), type, enum and required errors in errs.invalid."""
    want, got = schema.get("type"), _type_of(value)
    if value is None:
        return value
    if want and want != got and not (want == "number" and got == "integer"):
        errs.invalid.append((path, f'Invalid value: "{got}": {path} in body must be of type {want}: "{got}"'))
        return value
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{v}"' for v in schema["enum"])
        errs.invalid.append((path, f'Unsupported value: "{value}": supported values: {allowed}'))
    if want == "array" and "items" in schema:
        return [check(schema["items"], v, f"{path}[{i}]", errs) for i, v in enumerate(value)]
    if want != "object":
        return value
    props, extra = schema.get("properties"), schema.get("additionalProperties")
    for req in schema.get("required", ()):
        if value.get(req) is None:
            errs.invalid.append((f"{path}.{req}", "Required value"))
    if schema.get("x-kubernetes-preserve-unknown-fields") and props is None:
        return value
    out = {}
    for k, v in value.items():
        sub = f"{path}.{k}" if path else k
        if props is not None and k in props:
            out[k] = check(props[k], v, sub, errs)
        elif isinstance(extra, dict):
            out[k] = check(extra, v, sub, errs)
        elif schema.get("x-kubernetes-preserve-unknown-fields"):
            out[k] = v
        else:
            errs.unknown.append(sub)
    return out


def validate(kind: str, obj: dict) -> tuple[dict, SchemaErrors]:
    """Check everything but apiVersion, kind and metadata (checked apart)."""
    errs = SchemaErrors()
    schema = SCHEMAS[kind]
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    pruned = check(schema, body, "", errs)
    return {**{k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}, **pruned}, errs


# -- OpenAPI v3 --------------------------------------------------------------------
def schema_name(group: str, version: str, kind: str) -> str:
    if not group:
        return f"io.k8s.api.core.{version}.{kind}"
    return f"{'.'.join(reversed(group.split('.')))}.{version}.{kind}"


def _param(name: str, where: str = "query", description: str = "") -> dict:
    return {"name": name, "in": where, "description": description, "schema": {"type": "string"},
            **({"required": True} if where == "path" else {})}


def openapi_v3(group: str, version: str, kinds: list) -> dict:
    """One group-version's OpenAPI v3 document, with the operations kubectl
    looks at: a PATCH per kind declaring `fieldValidation` (so kubectl leaves
    validation to this server, which validates with the same schemas)."""
    schemas: dict[str, dict] = {META_REF: OBJECT_META}
    paths: dict[str, dict] = {}
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    for k in kinds:
        gvk = {"group": group, "version": version, "kind": k.kind}
        ref = {"$ref": f"#/components/schemas/{schema_name(group, version, k.kind)}"}
        schema = json.loads(json.dumps(SCHEMAS[k.kind]))
        schema["properties"] = {
            "apiVersion": _s("APIVersion defines the versioned schema of this representation of an object."),
            "kind": _s("Kind is a string value representing the REST resource this object represents."),
            "metadata": {"allOf": [{"$ref": f"#/components/schemas/{META_REF}"}], "description":
                         "Standard object's metadata."},
            **schema["properties"]}
        schema["x-kubernetes-group-version-kind"] = [gvk]
        schemas[schema_name(group, version, k.kind)] = schema
        body = {"content": {"application/json": {"schema": ref}, "application/yaml": {"schema": ref}}}
        ok = {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        ns = "/namespaces/{namespace}" if k.namespaced else ""
        params = [_param("name", "path")] + ([_param("namespace", "path")] if k.namespaced else [])
        ops = {"x-kubernetes-group-version-kind": gvk}
        item = {"parameters": params,
                "get": {**ops, "operationId": f"read{k.kind}", "x-kubernetes-action": "get", "responses": ok},
                "put": {**ops, "operationId": f"replace{k.kind}", "x-kubernetes-action": "put", "requestBody": body,
                        "parameters": [_param("fieldValidation"), _param("fieldManager")], "responses": ok},
                "patch": {**ops, "operationId": f"patch{k.kind}", "x-kubernetes-action": "patch",
                          "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in (
                              "application/merge-patch+json", "application/strategic-merge-patch+json",
                              "application/json-patch+json", "application/apply-patch+yaml")}},
                          "parameters": [_param("fieldValidation", description="Ignore, Warn or Strict: what to do "
                                                "with fields the schema does not declare"),
                                         _param("fieldManager"), _param("force")], "responses": ok},
                "delete": {**ops, "operationId": f"delete{k.kind}", "x-kubernetes-action": "delete",
                           "responses": ok}}
        paths[f"{prefix}{ns}/{k.plural}/{{name}}"] = item
        paths[f"{prefix}{ns}/{k.plural}"] = {
            "parameters": params[1:],
            "get": {**ops, "operationId": f"list{k.kind}", "x-kubernetes-action": "list", "responses": ok},
            "post": {**ops, "operationId": f"create{k.kind}", "x-kubernetes-action": "post", "requestBody": body,
                     "parameters": [_param("fieldValidation"), _param("fieldManager")], "responses": ok}}
    return {"openapi": "3.0.0", "info": {"title": "mzsim kube-api", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": schemas}}


def doc_hash(doc: dict) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()


# -- printer columns (kubectl get) -------------------------------------------------
def age(timestamp: str | None, now: dt.datetime | None = None) -> str:
    """apimachinery's HumanDuration: 45s, 5m10s, 3h, 2d5h..."""
    if not timestamp:
        return "<unknown>"
    now = now or dt.datetime.now(dt.UTC)
    s = int((now - parse_time(timestamp)).total_seconds())
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d" if d < 365 * 2 else f"{d // 365}y"


def _cond(obj: dict, ctype: str, field: str = "status") -> str:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return str(c.get(field, ""))
    return ""


def _col(name: str, description: str, type_: str = "string", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


_NAME = _col("Name", "Name must be unique within a namespace.", fmt="name")
_AGE = _col("Age", "CreationTimestamp: when this object was created.", "date")
_ISSUER_COLS = ([_NAME, _col("Ready", "The Ready condition's status."),
                 _col("Status", "The Ready condition's message.", priority=1), _AGE],
                lambda o: [_cond(o, "Ready"), _cond(o, "Ready", "message")])

COLUMNS = {
    "CertificateRequest": ([_NAME, _col("Approved", "The Approved condition's status."),
                            _col("Denied", "The Denied condition's status."),
                            _col("Ready", "The Ready condition's status."),
                            _col("Issuer", "spec.issuerRef.name"), _col("Requester", "spec.username"),
                            _col("Status", "The Ready condition's message.", priority=1), _AGE],
                           lambda o: [_cond(o, "Approved"), _cond(o, "Denied"), _cond(o, "Ready"),
                                      ((o.get("spec") or {}).get("issuerRef") or {}).get("name", ""),
                                      (o.get("spec") or {}).get("username", ""), _cond(o, "Ready", "message")]),
    "Issuer": _ISSUER_COLS,
    "ClusterIssuer": _ISSUER_COLS,
    "Namespace": ([_NAME, _col("Status", "The namespace's phase."), _AGE],
                  lambda o: [(o.get("status") or {}).get("phase", "Active")]),
    "Secret": ([_NAME, _col("Type", "The secret's type."), _col("Data", "Number of data items.", "integer"), _AGE],
               lambda o: [o.get("type", "Opaque"), len(o.get("data") or {})]),
    "Event": ([_col("Last Seen", "When the event was last seen."), _col("Type", "Normal or Warning."),
               _col("Reason", "Why the event was posted."), _col("Object", "The object it is about."),
               _col("Message", "What happened.")], None),
}


def table_row(kind: str, obj: dict, include: str) -> dict:
    """One `meta.k8s.io/v1` Table row; `include` is the includeObject option."""
    md = obj.get("metadata") or {}
    cols_fn = COLUMNS[kind][1]
    if cols_fn is None:  # Event
        io = obj.get("involvedObject") or {}
        cells = [age(obj.get("lastTimestamp") or md.get("creationTimestamp")), obj.get("type", ""),
                 obj.get("reason", ""), f"{str(io.get('kind', '')).lower()}/{io.get('name', '')}",
                 obj.get("message", "")]
    else:
        cells = [md.get("name", ""), *cols_fn(obj), age(md.get("creationTimestamp"))]
    row: dict = {"cells": cells}
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md}
    return row


def table(kind: str, objs: list[dict], resource_version: str, include: str = "Metadata") -> dict:
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": COLUMNS[kind][0], "rows": [table_row(kind, o, include) for o in objs]}
