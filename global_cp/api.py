"""Global's HTTP API, on Kuma's paths."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from common.ca import registry
from common.ca.base import BackendContext
from common.errors import BadRequest, NotFound, ValidationError, Violation
from common.httpapi import json_response, metrics_handler, page, read_resource, resource_json
from common.kds.kinds import syncs_down
from common.metrics import Registry
from common.resources import Resource, to_universal
from common.schema.names import zone_name_problem
from common.store import Store
from common.tokens import ZoneTokens, is_signing_key_name, signing_key_problem
from common.validation import validate_resource
from common.validation.mesh import validate_mesh_update

from .authz import valid_for_seconds
from .config import GlobalConfig
from .lifecycle import delete_mesh, missing_secrets
from .mtls_check import prepare_mesh, reported_services, services_to_test
from .overview import Overviews
from .zones import ZoneRegistry

log = logging.getLogger("mzsim.global.api")


class GlobalApi:
    def __init__(self, config: GlobalConfig, store: Store, zone_store: Store, zones: ZoneRegistry,
                 tokens: ZoneTokens, metrics: Registry, instance_id: str):
        self.config = config
        self.store = store  # meshes, secrets, zones: what syncs down
        self.zone_store = zone_store  # what zones report
        self.zones = zones
        self.tokens = tokens
        self.metrics = metrics
        self.instance_id = instance_id
        self.overviews = Overviews(store, zone_store, zones)
        self._mesh_lock = asyncio.Lock()  # one mesh apply at a time: test issue + store is a unit

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.index),
            web.get("/meshes", self.list_meshes),
            web.get("/meshes/{name}", self.get_mesh),
            web.put("/meshes/{name}", self.put_mesh),
            web.delete("/meshes/{name}", self.delete_mesh),
            web.get("/meshes/{mesh}/secrets", self.list_secrets),
            web.get("/meshes/{mesh}/secrets/{name}", self.get_secret),
            web.put("/meshes/{mesh}/secrets/{name}", self.put_secret),
            web.delete("/meshes/{mesh}/secrets/{name}", self.delete_secret),
            web.get("/global-secrets", self.list_global_secrets),
            web.get("/global-secrets/{name}", self.get_global_secret),
            web.put("/global-secrets/{name}", self.put_global_secret),
            web.delete("/global-secrets/{name}", self.delete_global_secret),
            web.get("/meshes/{mesh}/dataplanes", self.list_dataplanes),
            web.get("/meshes/{mesh}/dataplanes/_overview", self.dataplanes_overview),
            web.get("/meshes/{mesh}/_overview", self.mesh_overview),
            web.get("/zones", self.list_zones),
            web.get("/zones/_overview", self.zones_overview),
            web.get("/zones/{name}", self.get_zone),
            web.get("/zones/{name}/_overview", self.zone_overview),
            web.get("/status/zones", self.status_zones),
            web.get("/global-insight", self.global_insight),
            web.post("/tokens/zone", self.zone_token),
            web.get("/metrics", metrics_handler(self.metrics)),
        ]

    async def index(self, request: web.Request) -> web.Response:
        return json_response({"product": "mzsim", "mode": "global", "instanceId": self.instance_id,
                              "version": self.store.revision, "dashboard": "/dashboard"})

    # -- meshes ----------------------------------------------------------------
    async def list_meshes(self, request: web.Request) -> web.Response:
        return json_response(page([resource_json(r) for r in self.store.list("Mesh")]))

    def _get(self, kind: str, name: str, mesh: str | None = None) -> Resource:
        res = self.store.get(kind, name, mesh)
        if res is None:
            where = f" in mesh {mesh!r}" if mesh else ""
            raise NotFound(f"{kind} {name!r} not found{where}")
        return res

    async def get_mesh(self, request: web.Request) -> web.Response:
        return json_response(resource_json(self._get("Mesh", request.match_info["name"])))

    async def put_mesh(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        res = await read_resource(request, kind="Mesh", name=name)
        _raise_invalid(res)
        async with self._mesh_lock:
            previous = self.store.get("Mesh", name)
            if previous is not None:
                violations = validate_mesh_update(previous, res)
                if violations:
                    raise ValidationError(list(violations))
            ctx = BackendContext(secret_lookup=lambda m, n: self.store.get("Secret", n, m),
                                 environment="global", metrics=self.metrics,
                                 kubeconfig=self.config.kubeconfig or None, settings=self.config.backends)
            skip = frozenset(self.config.mtls.skip_test_issue_types)
            statuses = self._statuses()
            services = services_to_test((s["environment"] or "universal" for s in statuses),
                                     reported_services(self.zone_store.list("Dataplane", name)))
            warnings: list[str] = []
            try:
                extra = await asyncio.wait_for(prepare_mesh(res, previous, ctx, skip_test_issue_types=skip,
                                                            services=services, warnings=warnings,
                                                            also=missing_secrets(res, self.store)),
                                               self.config.mtls.test_issue_timeout)
            except TimeoutError:
                raise ValidationError([Violation("mtls", "test issue timed out after "
                                       f"{self.config.mtls.test_issue_timeout:g}s; check that global can "
                                       "reach the backend")]) from None
            stored, _ = self.store.apply([res] + list(extra), [])
        warnings += self._mesh_warnings(res, statuses)
        for w in warnings:
            log.warning("mesh %s: %s", name, w)
        log.info("mesh %s %s (version %s)", name, "updated" if previous else "created", stored[0].meta["version"])
        return json_response({"name": name, "version": stored[0].meta["version"], "warnings": warnings},
                             status=200 if previous else 201)

    def _mesh_warnings(self, mesh: Resource, statuses: list[dict[str, Any]]) -> list[str]:
        """Connected zones whose environment cannot run the mesh's backends (they will NACK it)."""
        allowed = registry.zone_environments(mesh)
        refusing: dict[str, list[str]] = {}
        for s in statuses:
            environment = s["environment"] or "universal"
            if s["active"] and environment not in allowed:
                refusing.setdefault(environment, []).append(s["name"])
        return [f"{'; '.join(registry.environment_problems(mesh, environment))}. These connected "
                f"{environment} zones will reject mesh {mesh.name!r}: {', '.join(zones)}"
                for environment, zones in sorted(refusing.items())]

    async def delete_mesh(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        async with self._mesh_lock:  # never interleaved with a PUT of the same mesh (its CA secrets)
            self._get("Mesh", name)
            owned, reported = delete_mesh(self.store, self.zone_store, name, unsafe=self.config.store.unsafe_delete)
        log.info("mesh %s deleted with %d mesh-scoped resources (%d reported by zones)", name, owned, reported)
        return json_response({})

    # -- secrets ---------------------------------------------------------------
    async def list_secrets(self, request: web.Request) -> web.Response:
        mesh = request.match_info["mesh"]
        return json_response(page([resource_json(r) for r in self.store.list("Secret", mesh)]))

    async def get_secret(self, request: web.Request) -> web.Response:
        res = self._get("Secret", request.match_info["name"], request.match_info["mesh"])
        return json_response(to_universal(res, with_meta=True))  # a single GET shows data, as Kuma

    async def put_secret(self, request: web.Request) -> web.Response:
        mesh, name = request.match_info["mesh"], request.match_info["name"]
        res = await read_resource(request, kind="Secret", name=name, mesh=mesh)
        _raise_invalid(res)
        if self.store.get("Mesh", mesh) is None:
            raise NotFound(f"mesh {mesh!r} not found; create it before its secrets")
        existed = self.store.get("Secret", name, mesh) is not None
        self.store.put(res)
        return json_response({"name": name, "mesh": mesh}, status=200 if existed else 201)

    async def delete_secret(self, request: web.Request) -> web.Response:
        mesh, name = request.match_info["mesh"], request.match_info["name"]
        self._get("Secret", name, mesh)
        users = registry.secret_users(self.store.list("Mesh"), mesh, name)
        if users:  # as Kuma's secret validator: a 400 naming who uses it
            raise ValidationError([Violation("name", f"secret {name!r} is in use by {', '.join(users)}; "
                                                     "remove the reference from the mesh before the secret")])
        self.store.delete("Secret", name, mesh)
        return json_response({})

    async def list_global_secrets(self, request: web.Request) -> web.Response:
        return json_response(page([resource_json(r) for r in self.store.list("GlobalSecret")]))

    async def get_global_secret(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        res = self._get("GlobalSecret", name)
        if not syncs_down("GlobalSecret", name):  # the zone-token signing key stays private
            return json_response(resource_json(res))
        return json_response(to_universal(res, with_meta=True))

    async def put_global_secret(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        res = await read_resource(request, kind="GlobalSecret", name=name)
        _raise_invalid(res)
        if is_signing_key_name(name):
            problem = signing_key_problem(res.secret_bytes())
            if problem:
                raise ValidationError([Violation("data", problem)])
        existed = self.store.get("GlobalSecret", name) is not None
        self.store.put(res)
        return json_response({"name": name}, status=200 if existed else 201)

    async def delete_global_secret(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self._get("GlobalSecret", name)
        self.store.delete("GlobalSecret", name)
        return json_response({})

    # -- what zones report -----------------------------------------------------
    def _zone_rows(self, kind: str, mesh: str) -> list[Resource]:
        return self.zone_store.list(kind, mesh)

    async def list_dataplanes(self, request: web.Request) -> web.Response:
        mesh = request.match_info["mesh"]
        return json_response(page([_zone_resource_json(r) for r in self._zone_rows("Dataplane", mesh)]))

    async def dataplanes_overview(self, request: web.Request) -> web.Response:
        mesh = request.match_info["mesh"]
        insights = {r.name: r for r in self._zone_rows("DataplaneInsight", mesh)}
        items = []
        for dp in self._zone_rows("Dataplane", mesh):
            ins = insights.get(dp.name)
            items.append({"type": "DataplaneOverview", "mesh": mesh, "name": dp.name,
                          "zone": dp.meta.get("zone"), "dataplane": dp.spec,
                          "dataplaneInsight": ins.spec if ins else {}})
        return json_response(page(items))

    async def list_zones(self, request: web.Request) -> web.Response:
        return json_response(page([self._zone_json(n) for n in self.zones.zone_names()]))

    def _zone_json(self, name: str) -> dict[str, Any]:
        z = self.store.get("Zone", name)
        return {"type": "Zone", "name": name, "enabled": (z.spec.get("enabled", True) if z else True)}

    async def get_zone(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.zones.zone_names():
            raise NotFound(f"zone {name!r} not found; zones appear once they connect")
        return json_response(self._zone_json(name))

    async def zones_overview(self, request: web.Request) -> web.Response:
        return json_response(page(self.overviews.all_zones()))

    async def zone_overview(self, request: web.Request) -> web.Response:
        return json_response(self.overviews.zone(request.match_info["name"]))

    async def mesh_overview(self, request: web.Request) -> web.Response:
        return json_response(self.overviews.mesh(request.match_info["mesh"]))

    def _statuses(self) -> list[dict[str, Any]]:
        return self.zones.statuses()

    async def status_zones(self, request: web.Request) -> web.Response:
        return json_response(self._statuses())

    async def global_insight(self, request: web.Request) -> web.Response:
        statuses = self._statuses()
        issued = rotated = 0
        failing = 0
        for ins in self.zone_store.list("DataplaneInsight"):
            mtls = ins.spec.get("mTLS") or {}
            regenerations = int(mtls.get("certificateRegenerations") or 0)
            issued += regenerations
            rotated += max(0, regenerations - 1)
            failing += 1 if mtls.get("status") in ("error", "backoff", "breaker-open") else 0
        return json_response({
            "meshes": self.store.count("Mesh"),
            "zones": {"total": len(statuses), "online": sum(1 for s in statuses if s["active"]),
                      "inSync": sum(1 for s in statuses if s["active"] and s["inSync"])},
            "dataplanes": self.zone_store.count("Dataplane"),
            "certificates": {"issued": issued, "rotated": rotated, "proxiesFailing": failing},
            "version": self.store.revision,
        })

    # -- tokens ----------------------------------------------------------------
    async def zone_token(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise BadRequest('body must be JSON: {"zone": "NAME", "validFor": "24h"}') from None
        zone = body.get("zone") if isinstance(body, dict) else None
        problem = zone_name_problem(zone)
        if problem:
            raise ValidationError([Violation("zone", problem)])
        assert isinstance(body, dict) and isinstance(zone, str)
        valid_for = valid_for_seconds(body, self.config.tokens.max_valid_for)
        token = self.tokens.issue(zone, valid_for)
        log.info("issued a zone token for zone %s valid for %gs", zone, valid_for)
        return web.Response(text=token, content_type="text/plain")


def _raise_invalid(res: Resource) -> None:
    violations = validate_resource(res)
    if violations:
        raise ValidationError(list(violations))


def _zone_resource_json(r: Resource) -> dict[str, Any]:
    out = resource_json(r)
    out["zone"] = r.meta.get("zone")
    return out
