"""`mzsim get zones|meshes|dataplanes|secrets` and `mzsim delete KIND NAME`,
in kumactl's manner. Secrets are listed by name only (never their data), and
global lets only admins list them (access.static.admin_resources)."""
from __future__ import annotations

import argparse
from typing import Any

from mzsim.kumactl import CommandError, add_options, ago, call, emit, items, run, seg

KINDS = ("zones", "meshes", "dataplanes", "secrets", "global-secrets")
DELETABLE = {"mesh": "Mesh", "secret": "Secret", "global-secret": "GlobalSecret"}


def register(sub) -> None:
    p = sub.add_parser("get", help="list zones, meshes, dataplanes or secrets (names only) on global",
                       description="List resources on global, as kumactl get does.")
    p.add_argument("kind", choices=KINDS, help="what to list")
    p.add_argument("-m", "--mesh", help="dataplanes/secrets: only this mesh (default: every mesh)")
    add_options(p)
    p.set_defaults(func=lambda a: run(main, a))
    d = sub.add_parser("delete", help="delete a mesh, secret or global-secret on global",
                       description="Delete one resource on global, as kumactl delete does.")
    d.add_argument("kind", choices=sorted(DELETABLE), help="what to delete")
    d.add_argument("name", help="its name")
    d.add_argument("-m", "--mesh", help="secret: its mesh (required)")
    add_options(d)
    d.set_defaults(func=lambda a: run(delete, a))


def _meshes(args: argparse.Namespace, prog: str) -> list[str]:
    if args.mesh:
        return [args.mesh]
    return [str(m.get("name")) for m in items(args, "/meshes", prog)]


def main(args: argparse.Namespace) -> int:
    prog = f"mzsim get {args.kind}"
    if args.kind == "zones":
        zones = items(args, "/zones/_overview", prog)
        data = [{"name": z["name"], "enabled": z.get("zone", {}).get("enabled", True),
                 "online": bool(z.get("status", {}).get("active")), "creationTime": z.get("creationTime")}
                for z in zones]
        emit(args, data, ["NAME", "ENABLED", "STATUS", "AGE"],
             [[z["name"], str(z["enabled"]).lower(), "Online" if z["online"] else "Offline", ago(z["creationTime"])]
              for z in data])
    elif args.kind == "meshes":
        meshes = items(args, "/meshes", prog)
        emit(args, meshes, ["NAME", "mTLS", "AGE"], [[m.get("name"), _mtls(m), ago(m.get("creationTime"))]
                                                     for m in meshes])
    elif args.kind == "dataplanes":
        dps = [dp for m in _meshes(args, prog) for dp in items(args, f"/meshes/{seg(m)}/dataplanes", prog)]
        emit(args, dps, ["MESH", "NAME", "ZONE", "TAGS", "AGE"],
             [[dp.get("mesh"), dp.get("name"), dp.get("zone"), _tags(dp), ago(dp.get("creationTime"))] for dp in dps])
    else:
        names = _secret_names(args, prog)
        emit(args, names, ["MESH", "NAME", "AGE"] if args.kind == "secrets" else ["NAME", "AGE"],
             [([s["mesh"]] if args.kind == "secrets" else []) + [s["name"], ago(s.get("creationTime"))]
              for s in names])
    return 0


def _secret_names(args: argparse.Namespace, prog: str) -> list[dict[str, Any]]:
    """Names only: whatever global's listing holds, nothing but these fields is shown."""
    keep = ("type", "mesh", "name", "creationTime", "modificationTime")
    if args.kind == "global-secrets":
        found = items(args, "/global-secrets", prog)
    else:
        found = [s for m in _meshes(args, prog) for s in items(args, f"/meshes/{seg(m)}/secrets", prog)]
    return [{k: s[k] for k in keep if k in s} for s in found]


def _mtls(mesh: dict[str, Any]) -> str:
    mtls = mesh.get("mtls") or {}
    enabled = mtls.get("enabledBackend")
    if not enabled:
        return "off"
    btype = next((b.get("type") for b in mtls.get("backends") or [] if b.get("name") == enabled), "?")
    return f"{btype}/{enabled}"


def _tags(dp: dict[str, Any]) -> str:
    tags: dict[str, str] = {}
    for inbound in (dp.get("networking") or {}).get("inbound") or []:
        tags.update({str(k): str(v) for k, v in (inbound.get("tags") or {}).items()})
    return ",".join(f"{k}={v}" for k, v in sorted(tags.items()))


def delete(args: argparse.Namespace) -> int:
    prog = f"mzsim delete {args.kind}"
    if args.kind == "secret" and not args.mesh:
        raise CommandError(f"{prog}: a secret belongs to a mesh: pass --mesh MESH", 2)
    path = {"mesh": f"/meshes/{seg(args.name)}", "global-secret": f"/global-secrets/{seg(args.name)}",
            "secret": f"/meshes/{seg(args.mesh or '')}/secrets/{seg(args.name)}"}[args.kind]
    call(args, "DELETE", path, prog)
    print(f"deleted {DELETABLE[args.kind]} {args.name!r}" + (f" in mesh {args.mesh!r}" if args.mesh else ""))
    return 0
