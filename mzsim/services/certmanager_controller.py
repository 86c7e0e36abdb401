"""`mzsim certmanager-controller`: a cert-manager-compatible CA issuer for a
Kubernetes API (mzsim's own or a real one without cert-manager).

- Approves requests for cert-manager.io issuers, as cert-manager's built-in
  approver does (off with --no-approve, to simulate a missing approver).
- Denies on demand: an annotation `mzsim.io/deny: "reason"` on the request or
  its issuer.
- Signs for Issuers/ClusterIssuers with `spec.ca.secretName` (tls.crt, tls.key),
  honouring spec.duration and spec.usages, and sets status.certificate,
  status.ca and Ready=True/Issued; marks the issuers themselves Ready
  (KeyPairVerified) or not, as cert-manager's issuer controller does.
- Leaves requests for unknown or unready issuers pending with cert-manager's
  messages, and picks them up again when the issuer appears or changes.
- Posts v1 Events on the request for each of these outcomes, as cert-manager
  does, so `kubectl describe certificaterequest` shows them.

Every status write carries the resourceVersion it was computed from, so a
stale event can never overwrite a newer state (409 Conflict: a newer event
follows).
"""
from __future__ import annotations

import asyncio
import base64
import logging
import random
import re

from cryptography import x509
from lightkube import ApiError
from lightkube.core.generic_client import ALL_NS
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Secret
from lightkube.types import PatchType

from common.backoff import backoff_delay
from common.ca.certmanager.kube import CertificateRequest, ClusterIssuer, Issuer, make_client
from common.signals import wait_for_stop_signal
from common.timefmt import now_text
from common.x509util import cert_to_pem, load_certs, load_key, sign_csr, utcnow

EVENT_SOURCE = "cert-manager-certificaterequests-issuer-ca"  # the component cert-manager's CA issuer reports as

log = logging.getLogger("mzsim.certmanager-controller")

GROUP = "cert-manager.io"
DENY_ANNOTATION = "mzsim.io/deny"
RESYNC_SECONDS = 10.0  # relist pending requests, e.g. for a CA secret created after its issuer
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


def condition(ctype: str, status: str, reason: str, message: str) -> dict:
    return {"type": ctype, "status": status, "reason": reason, "message": message, "lastTransitionTime": now_text()}


def conditions_of(obj) -> dict[str, dict]:
    return {c.get("type"): c for c in (obj.status or {}).get("conditions") or []}


def is_terminal(obj) -> bool:
    conds = conditions_of(obj)
    return ("Denied" in conds or "InvalidRequest" in conds or
            conds.get("Ready", {}).get("status") == "True" or conds.get("Ready", {}).get("reason") == "Failed")


def _same(a: dict | None, b: dict) -> bool:
    return bool(a) and all(a.get(k) == b[k] for k in ("status", "reason", "message"))


class IssuerNotReady(Exception):
    """The issuer is missing, not a CA issuer, or its CA cannot be loaded."""


class Controller:
    def __init__(self, client, namespace: str, *, approve: bool = True,
                 cluster_resource_namespace: str = "kong-mesh-system", resync_seconds: float = RESYNC_SECONDS):
        self.client = client
        self.namespace = namespace or ALL_NS
        self.approve = approve
        self.cluster_ns = cluster_resource_namespace
        self.resync_seconds = resync_seconds
        self._lock = asyncio.Lock()  # one reconcile at a time: events, requeues and resyncs interleave
        # The newest resourceVersion known per request, ours included: events
        # older than that are skipped instead of being worked on for nothing
        # (their writes would fail their precondition anyway).
        self._newest: dict[tuple[str, str], int] = {}
        # Events are posted after a reconcile, in the background, in order: they
        # never delay a signature (each is an API request).
        self._unposted: list = []
        self._events: set[asyncio.Task] = set()

    # -- informers ---------------------------------------------------------------
    async def run(self) -> None:
        await asyncio.gather(
            self._informer(CertificateRequest, self.namespace, self._on_request, self._forget),
            self._informer(Issuer, self.namespace, self._on_issuer),
            self._informer(ClusterIssuer, None, self._on_issuer),
            self._resync_loop())

    async def _informer(self, res, namespace, handler, on_delete=None) -> None:
        """List, then watch from the list's resourceVersion; on errors reconnect
        with jittered capped backoff, relisting after 410 Gone."""
        rv, attempt = None, 0
        while True:
            try:
                if rv is None:
                    listing = self.client.list(res, namespace=namespace)
                    items = [o async for o in listing]
                    rv = listing.resourceVersion  # the list's own: resume right after it
                    for obj in items:
                        await handler(obj)
                async for etype, obj in self.client.watch(res, namespace=namespace, resource_version=rv):
                    rv, attempt = obj.metadata.resourceVersion, 0
                    if etype in ("ADDED", "MODIFIED"):
                        await handler(obj)
                    elif etype == "DELETED" and on_delete is not None:
                        on_delete(obj)
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                if e.status.code == 410:
                    rv = None
                log.warning("watch of %s failed: %s %s; retrying", res.__name__, e.status.code, e.status.message)
            except Exception as e:  # noqa: BLE001 - connection errors: reconnect
                log.warning("watch of %s failed: %s; retrying", res.__name__, e)
            attempt += 1
            await asyncio.sleep(backoff_delay(attempt, 0.2, 10.0))

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds * random.uniform(0.8, 1.0))
            try:
                await self._requeue(lambda _ref: True)
            except Exception as e:  # noqa: BLE001 - the next resync tries again
                log.warning("resync failed: %s", e)

    async def _requeue(self, matches) -> None:
        async for obj in self.client.list(CertificateRequest, namespace=self.namespace):
            if not is_terminal(obj) and matches((obj.spec or {}).get("issuerRef") or {}):
                await self._on_request(obj)

    # -- handlers ------------------------------------------------------------------
    def _note(self, obj) -> bool:
        """Record obj's resourceVersion; False if a newer one is already known."""
        key, rv = (obj.metadata.namespace, obj.metadata.name), int(obj.metadata.resourceVersion)
        if rv < self._newest.get(key, 0):
            return False
        if len(self._newest) > 10_000:  # missed deletes: start over (preconditions keep it correct)
            self._newest.clear()
        self._newest[key] = rv
        return True

    def _forget(self, obj) -> None:
        self._newest.pop((obj.metadata.namespace, obj.metadata.name), None)

    async def _on_request(self, obj) -> None:
        async with self._lock:
            if not self._note(obj):
                return
            try:
                await self.reconcile(obj)
            except ApiError as e:
                if e.status.code in (404, 409):  # deleted, or acted on a stale copy: newer news is on its way
                    log.debug("%s changed meanwhile: %s", obj.metadata.name, e.status.message)
                else:
                    log.warning("reconciling %s: %s", obj.metadata.name, e.status.message)
            except Exception:  # noqa: BLE001 - one bad request must not stop the controller
                log.exception("reconciling %s", obj.metadata.name)
            finally:
                self._post_events()

    async def _on_issuer(self, issuer) -> None:
        """Keep the issuer's Ready condition true to its CA, then retry the
        requests waiting for it."""
        if not ((issuer.spec or {}).get("ca") or {}).get("secretName"):
            return  # not a CA issuer: someone else's
        kind = "ClusterIssuer" if issuer.metadata.namespace is None else "Issuer"
        try:
            async with self._lock:
                await self._load_ca(kind, issuer)
        except IssuerNotReady:
            pass
        except Exception as e:  # noqa: BLE001 - reported on the issuer where possible
            log.warning("checking %s %s: %s", kind, issuer.metadata.name, e)
        name, ns = issuer.metadata.name, issuer.metadata.namespace
        await self._requeue(lambda ref: (ref.get("group") or GROUP) == GROUP and ref.get("name") == name
                            and (ref.get("kind") or "Issuer") == kind)
        log.debug("requeued requests for %s %s/%s", kind, ns, name)

    def event(self, obj, etype: str, reason: str, message: str) -> None:
        """A v1 Event about `obj`, posted after the reconcile; a failure is only logged."""
        md, now = obj.metadata, utcnow()
        ev = Event(metadata=ObjectMeta(generateName=f"{md.name}.", namespace=md.namespace),
                   involvedObject=ObjectReference(apiVersion=f"{GROUP}/v1", kind="CertificateRequest", name=md.name,
                                                  namespace=md.namespace, uid=md.uid,
                                                  resourceVersion=md.resourceVersion),
                   type=etype, reason=reason, message=message, count=1, firstTimestamp=now, lastTimestamp=now,
                   source=EventSource(component=EVENT_SOURCE), reportingComponent=EVENT_SOURCE)

        self._unposted.append(ev)

    def _post_events(self) -> None:
        if not self._unposted:
            return
        events, self._unposted = self._unposted, []

        async def post() -> None:
            for ev in events:
                try:
                    await self.client.create(ev)
                except Exception as e:  # noqa: BLE001 - events are best effort, as in client-go's recorder
                    log.warning("could not post event %s on %s: %s", ev.reason, ev.involvedObject.name, e)

        task = asyncio.create_task(post())
        self._events.add(task)
        task.add_done_callback(self._events.discard)

    # -- reconciling a request -----------------------------------------------------
    async def reconcile(self, obj) -> None:
        ref = (obj.spec or {}).get("issuerRef") or {}
        if (ref.get("group") or GROUP) != GROUP or is_terminal(obj):
            return  # another issuer's request, or done
        kind = ref.get("kind") or "Issuer"
        conds = conditions_of(obj)
        issuer = await self._issuer(kind, ref.get("name", ""), obj.metadata.namespace)
        if "Approved" not in conds:
            deny = ((obj.metadata.annotations or {}).get(DENY_ANNOTATION) or
                    ((issuer.metadata.annotations or {}).get(DENY_ANNOTATION) if issuer is not None else None))
            if deny:
                conds["Denied"] = condition("Denied", "True", "mzsim.io", deny)
                conds["Ready"] = condition("Ready", "False", "Denied",
                                           "The CertificateRequest was denied by an approval controller")
                await self._patch_status(obj, conds, failureTime=now_text())
                self.event(obj, "Warning", "Denied", f"Certificate request has been denied: {deny}")
                log.info("denied %s: %s", obj.metadata.name, deny)
                return
            if not self.approve:
                return  # no approver: the request waits, as with cert-manager without approval
            conds["Approved"] = condition("Approved", "True", GROUP,
                                          "Certificate request has been approved by cert-manager.io")
            obj = await self._patch_status(obj, conds)
            self.event(obj, "Normal", GROUP, "Certificate request has been approved by cert-manager.io")
        try:
            if issuer is None:
                raise IssuerNotReady(f'Referenced "{kind}" not found: {kind.lower()}.{GROUP} '
                                     f'"{ref.get("name")}" not found')
            ca_pem, ca_cert, ca_key = await self._load_ca(kind, issuer)
        except IssuerNotReady as e:
            pending = condition("Ready", "False", "Pending", str(e))
            if not _same(conds.get("Ready"), pending):
                conds["Ready"] = pending
                await self._patch_status(obj, conds)
                self.event(obj, "Normal", "IssuerNotReady", str(e))
            return
        await self._sign(obj, conds, ca_pem, ca_cert, ca_key)

    async def _issuer(self, kind: str, name: str, namespace: str):
        try:
            if kind == "ClusterIssuer":
                return await self.client.get(ClusterIssuer, name)
            return await self.client.get(Issuer, name, namespace=namespace)
        except ApiError as e:
            if e.status.code == 404:
                return None
            raise

    async def _load_ca(self, kind: str, issuer):
        """The issuer's CA, recording the outcome in the issuer's Ready condition."""
        secret_name = ((issuer.spec or {}).get("ca") or {}).get("secretName")
        if not secret_name:
            raise IssuerNotReady(f"Referenced {kind} {issuer.metadata.name!r} is not a CA issuer (no spec.ca."
                                 "secretName); mzsim's controller simulates only CA issuers")
        secret_ns = self.cluster_ns if kind == "ClusterIssuer" else issuer.metadata.namespace
        try:
            secret = await self.client.get(Secret, secret_name, namespace=secret_ns)
            data = secret.data or {}
            ca_pem = base64.b64decode(data["tls.crt"])
            loaded = ca_pem, load_certs(ca_pem)[0], load_key(base64.b64decode(data["tls.key"]))
            ready = condition("Ready", "True", "KeyPairVerified", "Signing CA verified")
        except (ApiError, KeyError, IndexError, ValueError, TypeError) as e:
            why = e.status.message if isinstance(e, ApiError) else f"secret {secret_ns}/{secret_name}: {e!r}"
            loaded = None
            ready = condition("Ready", "False", "ErrGetKeyPair", f"Error getting keypair for CA issuer: {why}")
        await self._set_issuer_ready(kind, issuer, ready)
        if loaded is None:
            raise IssuerNotReady(f"Referenced issuer does not have a Ready status condition ({ready['message']})")
        return loaded

    async def _set_issuer_ready(self, kind: str, issuer, ready: dict) -> None:
        conds = conditions_of(issuer)
        if _same(conds.get("Ready"), ready):
            return
        conds["Ready"] = ready
        res = ClusterIssuer if kind == "ClusterIssuer" else Issuer
        await self.client.patch(res.Status, issuer.metadata.name,
                                {"metadata": {"resourceVersion": issuer.metadata.resourceVersion},
                                 "status": {"conditions": list(conds.values())}},
                                namespace=issuer.metadata.namespace, patch_type=PatchType.MERGE)

    async def _sign(self, obj, conds: dict, ca_pem: bytes, ca_cert, ca_key) -> None:
        spec = obj.spec or {}
        try:
            csr = x509.load_pem_x509_csr(base64.b64decode(spec.get("request", "")))
            lifetime = go_duration(spec.get("duration") or "2160h")  # cert-manager's default: 90 days
            # As cert-manager's CA issuer: never past the CA's own expiry.
            lifetime = min(lifetime, (ca_cert.not_valid_after_utc - utcnow()).total_seconds())
            usages = tuple(spec.get("usages") or ("digital signature", "key encipherment"))
            cert = await asyncio.to_thread(sign_csr, csr, ca_cert, ca_key, lifetime, usages=usages)
        except ValueError as e:
            conds["InvalidRequest"] = condition("InvalidRequest", "True", "RequestParsingError", str(e))
            conds["Ready"] = condition("Ready", "False", "Failed", f"Failed to sign certificate: {e}")
            await self._patch_status(obj, conds, failureTime=now_text())
            self.event(obj, "Warning", "RequestParsingError", f"Failed to sign certificate: {e}")
            log.info("invalid request %s: %s", obj.metadata.name, e)
            return
        conds["Ready"] = condition("Ready", "True", "Issued", "Certificate fetched from issuer successfully")
        await self._patch_status(obj, conds, certificate=base64.b64encode(cert_to_pem(cert).encode()).decode(),
                                 ca=base64.b64encode(ca_pem).decode())
        self.event(obj, "Normal", "CertificateIssued", "Certificate fetched from issuer successfully")
        log.info("issued %s (%gs)", obj.metadata.name, lifetime)

    async def _patch_status(self, obj, conds: dict, **fields):
        status = {**(obj.status or {}), **fields, "conditions": list(conds.values())}
        new = await self.client.patch(CertificateRequest.Status, obj.metadata.name,
                                      {"metadata": {"resourceVersion": obj.metadata.resourceVersion},
                                       "status": status},
                                      namespace=obj.metadata.namespace, patch_type=PatchType.MERGE)
        self._note(new)
        return new


async def run(kubeconfig: str, namespace: str, approve: bool, cluster_resource_namespace: str,
              resync_seconds: float = RESYNC_SECONDS) -> None:
    client = make_client(kubeconfig)
    controller = Controller(client, namespace, approve=approve, cluster_resource_namespace=cluster_resource_namespace,
                            resync_seconds=resync_seconds)
    task = asyncio.create_task(controller.run())
    await wait_for_stop_signal(f"mzsim certmanager-controller ready: namespace {namespace or 'all'}, "
                               f"approve={approve}")
    task.cancel()
    await asyncio.gather(task, *controller._events, return_exceptions=True)
    await client.close()
