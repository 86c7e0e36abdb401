"""The zone's HTTP API: its copy of meshes, its dataplanes, identities, status."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from common.errors import Forbidden, NotFound, ValidationError
from common.httpapi import json_response, metrics_handler, page, read_resource, resource_json
from common.metrics import Registry
from common.resources import Resource
from common.store import Store
from common.timefmt import format_time
from common.validation import validate_resource

from .issuance import IssuanceEngine

log = logging.getLogger("mzsim.zone.api")


class ZoneApi:
    def __init__(self, name: str, environment: str, store: Store, engine: IssuanceEngine | None,
                 metrics: Registry, status: Callable[[], dict[str, Any]]):
        self.name = name
        self.environment = environment
        self.store = store
        self.engine = engine
        self.metrics = metrics
        self.zone_status = status  # the zone's /status document

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.index),
            web.get("/status", self.status),
            web.get("/meshes", self.list_meshes),
            web.get("/meshes/{mesh}", self.get_mesh),
            web.put("/meshes/{mesh}", self.global_owned),
            web.delete("/meshes/{mesh}", self.global_owned),
            web.get("/meshes/{mesh}/secrets", self.list_secrets),
            web.put("/meshes/{mesh}/secrets/{name}", self.global_owned),
            web.delete("/meshes/{mesh}/secrets/{name}", self.global_owned),
            web.get("/meshes/{mesh}/dataplanes", self.list_dataplanes),
            web.get("/meshes/{mesh}/dataplanes/_overview", self.dataplanes_overview),
            web.get("/meshes/{mesh}/dataplanes/{name}", self.get_dataplane),
            web.put("/meshes/{mesh}/dataplanes/{name}", self.put_dataplane),
            web.delete("/meshes/{mesh}/dataplanes/{name}", self.delete_dataplane),
            web.get("/meshes/{mesh}/dataplanes/{name}/identity", self.identity),
            web.get("/metrics", metrics_handler(self.metrics)),
        ]

    async def index(self, request: web.Request) -> web.Response:
        return json_response({"product": "mzsim", "mode": "zone", "zone": self.name,
                              "environment": self.environment})

    async def status(self, request: web.Request) -> web.Response:
        return json_response(self.zone_status())

    async def global_owned(self, request: web.Request) -> web.Response:
        kind = "Secret" if "secrets" in request.path else "Mesh"
        raise Forbidden(f"{kind} is owned by the global control plane; apply it on global "
                        f"(PUT {request.path} on global's API), and it will sync to this zone")

    async def list_meshes(self, request: web.Request) -> web.Response:
        return json_response(page([resource_json(r) for r in self.store.list("Mesh")]))

    def _mesh(self, mesh: str) -> Resource:
        res = self.store.get("Mesh", mesh)
        if res is None:
            raise NotFound(f"mesh {mesh!r} not found in zone {self.name}; apply it on global")
        return res

    async def get_mesh(self, request: web.Request) -> web.Response:
        return json_response(resource_json(self._mesh(request.match_info["mesh"])))

    async def list_secrets(self, request: web.Request) -> web.Response:
        mesh = request.match_info["mesh"]
        return json_response(page([resource_json(r) for r in self.store.list("Secret", mesh)]))

    async def list_dataplanes(self, request: web.Request) -> web.Response:
        mesh = request.match_info["mesh"]
        return json_response(page([resource_json(r) for r in self.store.list("Dataplane", mesh)]))

    async def dataplanes_overview(self, request: web.Request) -> web.Response:
        mesh = request.match_info["mesh"]
        insights = {r.name: r for r in self.store.list("DataplaneInsight", mesh)}
        items = [{"type": "DataplaneOverview", "mesh": mesh, "name": dp.name, "dataplane": dp.spec,
                  "dataplaneInsight": insights[dp.name].spec if dp.name in insights else {}}
                 for dp in self.store.list("Dataplane", mesh)]
        return json_response(page(items))

    def _dataplane(self, mesh: str, name: str) -> Resource:
        res = self.store.get("Dataplane", name, mesh)
        if res is None:
            raise NotFound(f"dataplane {name!r} not found in mesh {mesh!r}")
        return res

    async def get_dataplane(self, request: web.Request) -> web.Response:
        return json_response(resource_json(self._dataplane(request.match_info["mesh"], request.match_info["name"])))

    async def put_dataplane(self, request: web.Request) -> web.Response:
        mesh, name = request.match_info["mesh"], request.match_info["name"]
        res = await read_resource(request, kind="Dataplane", name=name, mesh=mesh)
        violations = validate_resource(res)
        if violations:
            raise ValidationError(list(violations))
        self._mesh(mesh)
        existed = self.store.get("Dataplane", name, mesh) is not None
        self.store.put(res)
        return json_response({"name": name, "mesh": mesh}, status=200 if existed else 201)

    async def delete_dataplane(self, request: web.Request) -> web.Response:
        mesh, name = request.match_info["mesh"], request.match_info["name"]
        self._dataplane(mesh, name)
        self.store.apply([], [("Dataplane", mesh, name), ("DataplaneInsight", mesh, name)])
        return json_response({})

    async def identity(self, request: web.Request) -> web.Response:
        mesh, name = request.match_info["mesh"], request.match_info["name"]
        self._dataplane(mesh, name)
        cert = self.engine.identity(mesh, name) if self.engine else None
        if cert is None:
            raise NotFound(f"dataplane {name!r} in mesh {mesh!r} has no certificate yet; see its "
                           f"DataplaneInsight (GET /meshes/{mesh}/dataplanes/_overview) for why")
        return json_response({
            "certificate": cert.cert_pem,
            "caCertificates": cert.ca_pems,
            "serial": cert.serial_hex,
            "notBefore": format_time(cert.not_before.timestamp()),
            "notAfter": format_time(cert.not_after.timestamp()),
            "backend": cert.backend,
        })
