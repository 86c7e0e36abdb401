"""`mzsim kube-api`, `mzsim certmanager-controller` and `mzsim certmanager setup`."""
from __future__ import annotations

import asyncio
import sys

import yaml

from mzsim.extras import needs


def register(sub) -> None:
    k = sub.add_parser("kube-api", help="run a local Kubernetes API (cert-manager kinds; kubectl works with it)",
                       description="Serve the Kubernetes API the certmanager backend and controller need "
                       "(namespaces, secrets, cert-manager.io CertificateRequests, Issuers, ClusterIssuers) and "
                       "write a kubeconfig for clients: HTTPS with a self-signed CA (certificate-authority-data) "
                       "and a fresh bearer token. kubectl works with it as is.")
    k.add_argument("--port", type=int, required=True, help="port to serve the API on (HTTPS unless --plain-http)")
    k.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    k.add_argument("--kubeconfig-out", required=True, help="where to write the kubeconfig (mode 0600)")
    k.add_argument("--data", help="persist objects to this JSON file (default: in memory)")
    k.add_argument("--token-file", help="keep the bearer token in this file (mode 0600) so it survives restarts "
                   "(default: a fresh token each start)")
    k.add_argument("--history", type=int, default=10_000,
                   help="watch events kept; resuming from an older resourceVersion gets 410 Gone (default 10000)")
    k.add_argument("--tls-dir", help="keep the self-signed CA and serving certificate here (mode 0600) so "
                   "kubeconfigs stay valid across restarts (default: fresh each start)")
    k.add_argument("--plain-http", action="store_true",
                   help="serve plain HTTP instead of HTTPS (kubectl will not send the bearer token over it)")
    k.add_argument("--bookmark-seconds", type=float, default=60.0,
                   help="idle seconds between BOOKMARK events on watches that allow them (default 60)")
    k.set_defaults(func=run_kube_api)

    c = sub.add_parser("certmanager-controller", help="run a cert-manager-compatible CA issuer controller",
                       description="Approve and sign cert-manager CertificateRequests for CA Issuers.")
    c.add_argument("--kubeconfig", required=True,
                   help="kubeconfig of the Kubernetes API to watch (e.g. the one `mzsim kube-api` wrote)")
    c.add_argument("--namespace", default="kong-mesh-system",
                   help="namespace to watch (default %(default)s; '' for all namespaces)")
    c.add_argument("--no-approve", action="store_true", help="do not approve requests (a missing approver)")
    c.add_argument("--cluster-resource-namespace", default="kong-mesh-system",
                   help="where ClusterIssuers' CA secrets live (default %(default)s; real cert-manager's "
                   "default is cert-manager)")
    c.add_argument("--resync-seconds", type=float, default=10.0,
                   help="how often pending requests are looked at again without an event (default 10)")
    c.set_defaults(func=run_controller)

    cm = sub.add_parser("certmanager", help="cert-manager helpers")
    cmsub = cm.add_subparsers(dest="certmanager_command", metavar="COMMAND")
    s = cmsub.add_parser("setup", help="create the CA secret and Issuer my-ca-issuer in the system namespace")
    s.add_argument("--kubeconfig", required=True, help="kubeconfig of the Kubernetes API to set up")
    s.add_argument("--namespace", default="kong-mesh-system",
                   help="namespace of the CA secret and the Issuer (default %(default)s, Kong Mesh's system namespace)")
    s.add_argument("--issuer", default="my-ca-issuer",
                   help="name of the Issuer (or ClusterIssuer) (default %(default)s)")
    s.add_argument("--cluster-issuer", action="store_true", help="create a ClusterIssuer instead")
    s.add_argument("--mesh", default="default", help="name of the Mesh printed on stdout")
    s.set_defaults(func=run_setup)
    cm.set_defaults(func=lambda _a: (cm.print_help(), 2)[1])


def run_kube_api(args) -> int:
    from mzsim.services.kube_api import serve

    asyncio.run(serve(args.host, args.port, args.kubeconfig_out, args.data, args.token_file, history=args.history,
                      bookmark_seconds=args.bookmark_seconds, plain_http=args.plain_http, tls_dir=args.tls_dir))
    return 0


def run_controller(args) -> int:
    with needs("services", "mzsim certmanager-controller"):  # lightkube is imported as it starts
        from mzsim.services.certmanager_controller import run

        asyncio.run(run(args.kubeconfig, args.namespace, not args.no_approve, args.cluster_resource_namespace,
                        args.resync_seconds))
    return 0


def run_setup(args) -> int:
    with needs("backends", "mzsim certmanager setup"):
        from mzsim.setup.certmanager import setup_certmanager

    try:
        result = asyncio.run(setup_certmanager(args.kubeconfig, namespace=args.namespace, issuer=args.issuer,
                                               cluster_issuer=args.cluster_issuer,
                                               progress=lambda m: print(m, file=sys.stderr)))
    except Exception as e:  # noqa: BLE001 - a CLI: say what failed
        print(f"mzsim certmanager setup: {e}", file=sys.stderr)
        return 1
    print(yaml.safe_dump(result.mesh_doc(args.mesh), sort_keys=False), end="")
    return 0
