"""`mzsim certmanager-controller`: a cert-manager-compatible CA issuer for a
Kubernetes API (mzsim's own or a real one without cert-manager).

- Approves requests for cert-manager.io issuers, as cert-manager's built-in
  approver does (off with --no-approve, to simulate a missing approver).
- Denies on demand: an annotation `mzsim.io/deny: "reason"` on the request or
  its issuer.
- Signs for Issuers/ClusterIssuers with `spec.ca.secretName` (tls.crt, tls.key),
  honouring spec.duration and spec.usages, and sets status.certificate,
  status.ca and Ready=True/Issued.
- Leaves requests for unknown issuers pending with a message, as cert-manager.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import random
import re
import signal

from common.x509util import cert_to_pem, load_certs, load_key, sign_csr

log = logging.getLogger("mzsim.certmanager-controller")

DENY_ANNOTATION = "mzsim.io/deny"
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")


def go_duration(text: str) -> float:
    """Go's time.Duration text (as cert-manager writes it): 1h0m0s, 86400s, 90m."""
    total, pos = 0.0, 0
    for m in _GO_DURATION.finditer(text or ""):
        if m.start() != pos:
            break
        total += float(m.group(1)) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(f"spec.duration {text!r} is not a Go duration like 24h0m0s")
    return total


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(ctype: str, status: str, reason: str, message: str) -> dict:
    return {"type": ctype, "status": status, "reason": reason, "message": message, "lastTransitionTime": _now()}


class Controller:
    def __init__(self, client, namespace: str, *, approve: bool = True, cluster_resource_namespace: str = ""):
        self.client = client
        self.namespace = namespace
        self.approve = approve
        self.cluster_ns = cluster_resource_namespace or namespace

    async def run(self) -> None:
        from common.kubeclient import CertificateRequest

        attempt = 0
        rv = None
        while True:
            try:
                if rv is None:
                    rv = await self._resync()
                async for etype, obj in self.client.watch(CertificateRequest, namespace=self.namespace,
                                                          resource_version=rv):
                    rv = obj.metadata.resourceVersion
                    attempt = 0
                    if etype in ("ADDED", "MODIFIED"):
                        await self._reconcile_safely(obj)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - reconnect with backoff, relist if needed
                if "410" in str(e) or "too old" in str(e):
                    rv = None
                log.warning("watch failed: %s; retrying", e)
            attempt += 1
            await asyncio.sleep(min(10.0, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.0))

    async def _resync(self) -> str:
        """List everything (handling what was missed), return the list's resourceVersion."""
        from common.kubeclient import CertificateRequest

        items = []
        async for obj in self.client.list(CertificateRequest, namespace=self.namespace):
            items.append(obj)
        for obj in items:
            await self._reconcile_safely(obj)
        # lightkube's list does not expose the list's resourceVersion: the newest item's is enough to resume.
        return str(max((int(o.metadata.resourceVersion) for o in items), default=0))

    async def _reconcile_safely(self, obj) -> None:
        try:
            await self.reconcile(obj)
        except Exception:  # noqa: BLE001 - one bad request must not stop the controller
            log.exception("reconciling %s", obj.metadata.name)

    async def _patch_status(self, obj, status: dict) -> None:
        from lightkube.types import PatchType

        from common.kubeclient import CertificateRequest

        await self.client.patch(CertificateRequest.Status, obj.metadata.name, {"status": status},
                                namespace=obj.metadata.namespace, patch_type=PatchType.MERGE)

    async def reconcile(self, obj) -> None:
        spec = obj.spec or {}
        ref = spec.get("issuerRef") or {}
        if (ref.get("group") or "cert-manager.io") != "cert-manager.io":
            return  # another issuer's request
        status = dict(obj.status or {})
        conds = {c["type"]: c for c in status.get("conditions") or []}
        if "Denied" in conds or conds.get("Ready", {}).get("status") == "True" or "InvalidRequest" in conds:
            return
        kind = ref.get("kind") or "Issuer"
        issuer = await self._issuer(kind, ref.get("name", ""), obj.metadata.namespace)
        deny = ((obj.metadata.annotations or {}).get(DENY_ANNOTATION) or
                ((issuer.metadata.annotations or {}).get(DENY_ANNOTATION) if issuer is not None else None))
        if "Approved" not in conds:
            if deny:
                conds["Denied"] = condition("Denied", "True", "mzsim.io", deny)
                conds["Ready"] = condition("Ready", "False", "Denied", f"The CertificateRequest was denied: {deny}")
                await self._patch_status(obj, {**status, "conditions": list(conds.values()),
                                               "failureTime": _now()})
                log.info("denied %s: %s", obj.metadata.name, deny)
                return
            if not self.approve:
                return  # no approver: the request waits, as with cert-manager without approval
            conds["Approved"] = condition("Approved", "True", "cert-manager.io",
                                          "Certificate request has been approved by cert-manager.io")
            await self._patch_status(obj, {**status, "conditions": list(conds.values())})
            return  # the MODIFIED event brings it back for signing
        if issuer is None or not ((issuer.spec or {}).get("ca") or {}).get("secretName"):
            what = "not found" if issuer is None else "has no spec.ca.secretName (only CA issuers are simulated)"
            message = f'Referenced "{kind}" {what}: {ref.get("name")!r}'
            if conds.get("Ready", {}).get("message") != message:
                conds["Ready"] = condition("Ready", "False", "Pending", message)
                await self._patch_status(obj, {**status, "conditions": list(conds.values())})
            return
        await self._sign(obj, issuer, kind, status, conds)

    async def _issuer(self, kind: str, name: str, namespace: str):
        from lightkube import ApiError

        from common.kubeclient import ClusterIssuer, Issuer

        try:
            if kind == "ClusterIssuer":
                return await self.client.get(ClusterIssuer, name)
            return await self.client.get(Issuer, name, namespace=namespace)
        except ApiError as e:
            if e.status.code == 404:
                return None
            raise

    async def _sign(self, obj, issuer, kind: str, status: dict, conds: dict) -> None:
        from cryptography import x509
        from lightkube import ApiError
        from lightkube.resources.core_v1 import Secret

        secret_ns = self.cluster_ns if kind == "ClusterIssuer" else obj.metadata.namespace
        secret_name = issuer.spec["ca"]["secretName"]
        try:
            secret = await self.client.get(Secret, secret_name, namespace=secret_ns)
            ca_pem = base64.b64decode(secret.data["tls.crt"])
            ca_cert, ca_key = load_certs(ca_pem)[0], load_key(base64.b64decode(secret.data["tls.key"]))
        except (ApiError, KeyError, ValueError) as e:
            message = f"cannot load CA from secret {secret_ns}/{secret_name}: {e}"
            conds["Ready"] = condition("Ready", "False", "Pending", message)
            await self._patch_status(obj, {**status, "conditions": list(conds.values())})
            return
        spec = obj.spec or {}
        try:
            csr = x509.load_pem_x509_csr(base64.b64decode(spec.get("request", "")))
            lifetime = go_duration(spec.get("duration") or "2160h")
            usages = tuple(spec.get("usages") or ("digital signature", "key encipherment"))
            cert = sign_csr(csr, ca_cert, ca_key, lifetime, usages=usages)
        except ValueError as e:
            conds["InvalidRequest"] = condition("InvalidRequest", "True", "RequestParsingError", str(e))
            conds["Ready"] = condition("Ready", "False", "Failed", f"Failed to sign: {e}")
            await self._patch_status(obj, {**status, "conditions": list(conds.values()), "failureTime": _now()})
            return
        conds["Ready"] = condition("Ready", "True", "Issued", "Certificate fetched from issuer successfully")
        await self._patch_status(obj, {**status, "conditions": list(conds.values()),
                                       "certificate": base64.b64encode(cert_to_pem(cert).encode()).decode(),
                                       "ca": base64.b64encode(ca_pem).decode()})
        log.info("issued %s (%gs)", obj.metadata.name, lifetime)


async def run(kubeconfig: str, namespace: str, approve: bool, cluster_resource_namespace: str) -> None:
    from common.kubeclient import make_client

    client = make_client(kubeconfig)
    controller = Controller(client, namespace, approve=approve, cluster_resource_namespace=cluster_resource_namespace)
    task = asyncio.create_task(controller.run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"mzsim certmanager-controller ready: namespace {namespace}, approve={approve}", flush=True)
    await stop.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.close()
