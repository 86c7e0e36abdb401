"""The certmanager backend: data plane certificates from cert-manager, through
CertificateRequests in the system namespace, with a real Kubernetes client
(lightkube), so it works unchanged against a real cluster.

Works only in Kubernetes zones (seed: certmanager.md): registry.build refuses
it elsewhere. Every request is deleted
when done, whatever the outcome, so none pile up (as istio-csr and SPIRE do)."""
from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.generic_resource import GenericNamespacedResource
from lightkube.models.meta_v1 import ObjectMeta

from ...errors import BackendError
from ...x509util import DP_USAGES, Identity, IssuedCert, build_csr, csr_to_pem, generate_key, key_to_pem, split_pem
from ..base import BackendContext, CABackend
from .kube import CertificateRequest, KubeConfigError, make_client

log = logging.getLogger("mzsim.ca.certmanager")

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]")
_NAME_PART = re.compile(r"[^a-z0-9-]+")


def label_value(text: str) -> str:
    """A valid label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends."""
    v = _LABEL_VALUE.sub("-", text)[:63].strip("-._")
    return v or "x"


def name_prefix(mesh: str, dataplane: str) -> str:
    """generateName `{mesh}-{dataplane}-`, made a valid object name prefix
    (lowercase RFC 1123: [a-z0-9-], alphanumeric first); the API server adds
    5 characters and keeps at most 58 of the prefix."""
    parts = [_NAME_PART.sub("-", p.lower()).strip("-") or "x" for p in (mesh, dataplane)]
    return ("-".join(parts)[:57].rstrip("-") or "x") + "-"


def _status(obj: GenericNamespacedResource) -> dict[str, Any]:
    """The status mapping of a CertificateRequest (lightkube types `Generic.status` as a str)."""
    return obj.get("status") or {}


def conditions(obj: GenericNamespacedResource) -> dict[str, dict[str, Any]]:
    status = _status(obj)
    return {c.get("type"): c for c in status.get("conditions") or []}


def outcome(obj: GenericNamespacedResource) -> tuple[str, str]:
    """('ready'|'failed'|'pending', message) from a CertificateRequest's conditions."""
    conds = conditions(obj)
    for terminal in ("Denied", "InvalidRequest"):
        c = conds.get(terminal)
        if c and c.get("status") == "True":
            return "failed", f"{terminal}: {c.get('message') or c.get('reason') or ''}".strip()
    ready = conds.get("Ready")
    if ready and ready.get("status") == "True" and _status(obj).get("certificate"):
        return "ready", ""
    if ready and ready.get("status") == "False" and ready.get("reason") == "Failed":
        return "failed", f"Failed: {ready.get('message') or ''}".strip()
    approved = conds.get("Approved")
    if not approved:
        return "pending", "not approved; is cert-manager's approver (or approver-policy) running?"
    if ready:
        return "pending", f"approved, not issued: {ready.get('reason')}: {ready.get('message')}"
    return "pending", "approved, waiting for the issuer"


class CertManagerBackend(CABackend):
    type_name = "certmanager"

    def __init__(self, mesh: str, spec: dict[str, Any], ctx: BackendContext) -> None:
        super().__init__(mesh, spec, ctx)
        self.wait_seconds = ctx.settings.certmanager.wait_seconds
        self.namespace = ctx.system_namespace
        ref = self.conf.get("issuerRef") or {}
        self.issuer_ref = {"name": ref.get("name", ""), "kind": ref.get("kind") or "Issuer",
                           "group": ref.get("group") or "cert-manager.io"}
        self._client: AsyncClient | None = None
        self._last_ca: list[str] = []
        self._pending = 0
        self._pending_gauge = ctx.metrics.gauge(
            "mzsim_certmanager_pending_requests", "CertificateRequests waiting for cert-manager",
            ["mesh", "backend"]) if ctx.metrics is not None else None

    def _kube(self) -> AsyncClient:
        if self._client is None:
            try:
                self._client = make_client(self.ctx.kubeconfig)
            except KubeConfigError as e:
                raise BackendError(str(e), retryable=False) from None
            except Exception as e:  # noqa: BLE001 - a malformed kubeconfig: say which and why
                raise BackendError(f"cannot load the Kubernetes configuration "
                                   f"({self.ctx.kubeconfig or 'in-cluster/URL'}): {e}", retryable=False) from None
        return self._client

    def _set_pending(self, delta: int) -> None:
        self._pending += delta
        if self._pending_gauge is not None:
            self._pending_gauge.set(self._pending, mesh=self.mesh, backend=self.name)

    async def issue(self, identity: Identity, lifetime_seconds: float) -> IssuedCert:
        started = time.monotonic()
        result = "error"
        try:
            cert = await self._issue(identity, lifetime_seconds)
            result = "ok"
            return cert
        except RequestFailed:
            result = "failed"
            raise
        except RequestTimeout:
            result = "timeout"
            raise
        finally:
            self.observe_request("issue", result, time.monotonic() - started)

    async def _issue(self, identity: Identity, lifetime_seconds: float) -> IssuedCert:
        key = await asyncio.to_thread(generate_key, self.ctx.dp_key_type)
        csr = csr_to_pem(build_csr(identity, key, self.common_name(identity), self.conf.get("dnsNames") or ()))
        request = CertificateRequest(
            metadata=ObjectMeta(generateName=name_prefix(identity.mesh, identity.dataplane), namespace=self.namespace,
                                labels={"kuma.io/mesh": label_value(identity.mesh),
                                        "mzsim.io/backend": label_value(self.name),
                                        "mzsim.io/dataplane": label_value(identity.dataplane)}),
            spec={"request": base64.b64encode(csr.encode()).decode(), "issuerRef": self.issuer_ref,
                  "duration": f"{int(lifetime_seconds)}s", "usages": list(DP_USAGES), "isCA": False})
        client = self._kube()
        try:
            created = await client.create(request)  # into request.metadata.namespace
        except ApiError as e:
            code = e.status.code or 0  # a Status without a code: not retryable, as a 4xx
            raise BackendError(f"cannot create a CertificateRequest in namespace {self.namespace}: "
                               f"{e.status.message}", retryable=code >= 500 or code == 429) from None
        except Exception as e:  # connection errors: the API server is unreachable
            raise BackendError(f"cannot reach the Kubernetes API: {e}", retryable=True) from None
        name = created.metadata.name if created.metadata is not None else None
        if not name:
            raise BackendError(f"the Kubernetes API created a CertificateRequest in namespace {self.namespace} "
                               "but returned no name for it", retryable=True)
        self._set_pending(+1)
        try:
            final = await self._wait(name, created)
        finally:
            self._set_pending(-1)
            try:
                await client.delete(CertificateRequest, name, namespace=self.namespace)
            except Exception as e:  # noqa: BLE001 - the result stands; say why cleanup failed
                log.warning("could not delete CertificateRequest %s/%s: %s", self.namespace, name, e)
        status = _status(final)
        chain = base64.b64decode(status["certificate"]).decode()
        ca = base64.b64decode(status["ca"]).decode() if status.get("ca") else ""
        if not ca and self.conf.get("caCert"):
            ca = self.read_text(self.conf["caCert"], "caCert")
        roots = split_pem(ca)
        if not roots:
            raise BackendError(f"CertificateRequest {name} was issued without status.ca; set conf.caCert to the "
                               f"issuer's CA so data planes can verify it", retryable=False)
        self._last_ca = roots
        return IssuedCert(cert_pem=chain, key_pem=key_to_pem(key), ca_pems=roots, backend=self.name)

    async def _wait(self, name: str, created: GenericNamespacedResource) -> GenericNamespacedResource:
        """Watch the request until it is terminal; poll if the watch fails."""
        seen = [created]  # the latest state observed, also when the wait times out
        deadline = time.monotonic() + self.wait_seconds
        try:
            version = created.metadata.resourceVersion if created.metadata is not None else None
            await asyncio.wait_for(self._watch(name, version, seen),
                                   max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            pass
        except _WatchFailed as e:
            log.info("watch of CertificateRequest %s failed (%s); polling", name, e)
            await self._poll(name, deadline, seen)
        last = seen[-1]
        state, message = outcome(last)
        if state == "ready":
            return last
        if state == "failed":
            raise RequestFailed(f"CertificateRequest {self.namespace}/{name} for issuer "
                                f"{self.issuer_ref['kind']} {self.issuer_ref['name']!r}: {message}", retryable=False)
        raise RequestTimeout(f"CertificateRequest {self.namespace}/{name} was not issued within "
                             f"{self.wait_seconds:g}s: {message}", retryable=True)

    async def _watch(self, name: str, resource_version: str | None, seen: list[GenericNamespacedResource]) -> None:
        try:
            async for etype, obj in self._kube().watch(CertificateRequest, namespace=self.namespace,
                                                       fields={"metadata.name": name},
                                                       resource_version=resource_version):
                if etype == "BOOKMARK":
                    continue
                if etype == "DELETED":
                    raise BackendError(f"CertificateRequest {self.namespace}/{name} was deleted before it was "
                                       "issued", retryable=True)
                seen.append(obj)
                if outcome(obj)[0] != "pending":
                    return
        except BackendError:
            raise
        except Exception as e:  # noqa: BLE001 - any watch failure falls back to polling
            raise _WatchFailed(str(e)) from None
        raise _WatchFailed("watch ended")

    async def _poll(self, name: str, deadline: float, seen: list[GenericNamespacedResource]) -> None:
        while time.monotonic() < deadline:
            try:
                obj = await self._kube().get(CertificateRequest, name, namespace=self.namespace)
                seen.append(obj)
                if outcome(obj)[0] != "pending":
                    return
            except Exception as e:  # noqa: BLE001 - keep polling until the deadline
                log.debug("polling %s: %s", name, e)
            await asyncio.sleep(0.5)

    async def root_certs(self) -> list[str]:
        if self._last_ca:
            return list(self._last_ca)
        if self.conf.get("caCert"):
            return split_pem(self.read_text(self.conf["caCert"], "caCert"))
        return []

    async def close(self) -> None:
        if self._pending_gauge is not None:
            self._pending_gauge.remove(mesh=self.mesh, backend=self.name)
        if self._client is not None:
            try:
                await self._client.close()
            except Exception:  # noqa: BLE001
                pass
            self._client = None


class _WatchFailed(Exception):
    pass


class RequestFailed(BackendError):
    """cert-manager gave a terminal answer: Denied, InvalidRequest, or Failed."""


class RequestTimeout(BackendError):
    """The request was still pending at the deadline."""


Backend = CertManagerBackend
