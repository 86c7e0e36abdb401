"""The bootstrap Job (bootstrap-job.yaml): mint a zone token for every zone into the
Secret $TOKEN_SECRET (with global's public KDS CA as kds-ca.crt), then apply the
meshes. Runs in the mzsim image: the admin token comes from global's volume
(read-only); the Secret is written with the Job's ServiceAccount (lightkube,
in-cluster). Idempotent: a re-run replaces the tokens."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from mzsim.waiting import wait_until


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"bootstrap: set {name}")
    return value


def zone_names() -> list[str]:
    sts, pods, per_pod = env("ZONE_STATEFULSET"), int(env("ZONE_PODS")), int(env("ZONES_PER_POD"))
    names = [f"{sts}-{p}-{i + 1}" for p in range(pods) for i in range(per_pod)]  # mzsim zone --name-prefix POD-
    return names + os.environ.get("EXTRA_ZONES", "").split()


def mint(api: str, admin: str, zone: str, valid_for: str) -> str:
    req = urllib.request.Request(f"{api}/tokens/zone", method="POST",
                                 data=json.dumps({"zone": zone, "validFor": valid_for}).encode(),
                                 headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read(64 * 1024).decode().strip()


async def store(name: str, data: dict[str, str]) -> None:
    client = AsyncClient()  # in-cluster: the Job's ServiceAccount
    secret = Secret(metadata=ObjectMeta(name=name), type="Opaque", stringData=data)
    try:
        await client.create(secret)
    except ApiError as e:
        if e.status.code != 409:
            raise
        await client.replace(secret)
    finally:
        await client.close()


def main() -> int:
    api = env("MZSIM_GLOBAL_API")
    wait_until(lambda: os.path.exists(env("MZSIM_API_TOKEN_FILE")), 120, interval=1.0, what="global's admin token")
    with open(env("MZSIM_API_TOKEN_FILE")) as f:
        admin = f.read().strip()
    with open(env("KDS_CA_FILE")) as f:
        data = {"kds-ca.crt": f.read()}
    wait_until(lambda: urllib.request.urlopen(f"{api}/", timeout=5), 300, interval=2.0, what=f"global at {api}")
    names = zone_names()
    for i, zone in enumerate(names):
        data[zone] = mint(api, admin, zone, os.environ.get("TOKEN_VALID_FOR", "30d"))
        if (i + 1) % 500 == 0:
            print(f"bootstrap: {i + 1}/{len(names)} zone tokens", flush=True)
    asyncio.run(store(env("TOKEN_SECRET"), data))
    print(f"bootstrap: {len(names)} zone tokens and the KDS CA in Secret {env('TOKEN_SECRET')}", flush=True)
    files = [a for f in env("MESH_FILES").split() for a in ("-f", f)]
    return subprocess.run(["mzsim", "apply", *files], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
