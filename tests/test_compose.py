"""compose/, checked statically (fast, in the default suite; tests/compose runs it
for real on a container engine). Every mzsim command in the compose file and in
the bootstrap script parses with the real `mzsim` parser; ports, volumes, token
and kubeconfig paths agree between services; ordering is by depends_on
conditions; the Dockerfile keeps build inputs out of its final stage; and the
applied builtin mesh passes global's validation."""
from __future__ import annotations

import os
import re
import shlex
import urllib.parse

import pytest
import yaml

from common.resources import load_documents, parse_resource
from common.validation import validate_resource
from mzsim.cli import build_parser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPOSE = os.path.join(REPO, "compose")
ZONES = ["zone-1", "zone-2", "zone-3"]
SERVERS = ["openbao", "acmpca", "kube-api", "certmanager-controller"]
JOBS = ["tokens", "bootstrap"]
LONG_RUNNING = [*SERVERS, "global", *ZONES]


@pytest.fixture(scope="module")
def compose() -> dict:
    with open(os.path.join(COMPOSE, "docker-compose.yml")) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (instruction, arguments); continuation
    lines joined, comments dropped; instructions before the first FROM are stage 0."""
    with open(os.path.join(COMPOSE, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    out: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instr, _, rest = line.partition(" ")
            if instr.upper() == "FROM":
                out.append([])
            out[-1].append((instr.upper(), rest.strip()))
    return out


def parse(argv: list[str]):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"mzsim {shlex.join(argv)} does not parse (exit {e.code})")
    assert getattr(args, "func", None), f"mzsim {shlex.join(argv)} names no command"
    return args


def script_lines(script: str) -> list[list[str]]:
    """The shell words of each mzsim command in a script: continuation lines joined,
    the bootstrap's `retry FILE` prefix and redirects dropped."""
    out = []
    for line in re.sub(r"\\\n", " ", script).splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["retry"]:
            words = words[2:]
        # assignments, and optional arguments held in a variable ($first: may be empty)
        words = [w for w in words if not re.match(r"^[A-Z_]+=", w) and not re.fullmatch(r"\$\w+", w)]
        if words[:1] == ["mzsim"]:
            out.append(words[1:words.index(">")] if ">" in words else words[1:])
    return out


def the_args(compose: dict, name: str):
    cmd = compose["services"][name]["command"]
    assert isinstance(cmd, list) and cmd[0] == "mzsim", f"{name}: the exec (list) form, running mzsim"
    return parse(cmd[1:])


def mounts(service: dict) -> dict[str, str]:
    """container path -> volume name"""
    return {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}


def published(service: dict) -> dict[int, str]:
    """container port -> the host side as written (may be a ${VAR:-default})"""
    return {int(str(p).rpartition(":")[2]): str(p).rpartition(":")[0] for p in service.get("ports", [])}


def bootstrap_commands() -> list:
    with open(os.path.join(COMPOSE, "bootstrap.sh")) as f:
        return [parse(argv) for argv in script_lines(f.read())]


def test_the_services_and_their_commands(compose):
    s = compose["services"]
    assert set(s) == {*LONG_RUNNING, *JOBS}
    commands = {the_args(compose, n).command for n in ("acmpca", "kube-api", "certmanager-controller", "global",
                                                        *ZONES)}
    assert commands == {"acmpca", "kube-api", "certmanager-controller", "global", "zone"}
    assert "exec bao server -dev " in s["openbao"]["command"][2]
    assert s["bootstrap"]["command"] == ["sh", "/app/compose/bootstrap.sh"]
    done = {(a.command, getattr(a, "vault_command", None) or getattr(a, "acmpca_command", None)
             or getattr(a, "certmanager_command", None)) for a in bootstrap_commands()}
    assert {c for c, _ in done} == {"vault", "acmpca", "certmanager", "apply"}


def test_every_service_has_init_a_health_check_or_is_a_job(compose):
    for name, svc in compose["services"].items():
        assert svc.get("init") is True, f"{name}: init: true (Python as PID 1 ignores SIGTERM)"
        assert svc["image"] == "mzsim:local"
        if name in JOBS:
            assert svc["restart"] == "no" and "healthcheck" not in svc
            continue
        test = svc["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python3", "/app/compose/healthcheck.py"], name
        url = urllib.parse.urlparse(next(a for a in test if "://" in a))
        assert url.hostname in ("127.0.0.1", svc.get("hostname"), "kube-api"), f"{name} checks itself: {url}"


def test_ordering_is_by_depends_on_conditions_only(compose):
    s = compose["services"]
    conditions = {n: {d: c["condition"] for d, c in svc.get("depends_on", {}).items()} for n, svc in s.items()}
    for name, deps in conditions.items():
        for dep, cond in deps.items():
            want = "service_completed_successfully" if dep in JOBS else "service_healthy"
            assert cond == want, f"{name} -> {dep}: {cond}"
        assert "links" not in s[name] and "sleep" not in str(s[name].get("command"))
    assert conditions["bootstrap"].keys() == {"global", *SERVERS} - {"kube-api"}
    for zone in ZONES:
        assert conditions[zone].keys() == {"global", "tokens", "bootstrap"}, "meshes exist before dataplanes"
    assert conditions["global"].keys() == {"kube-api"}, "global test-issues from the certmanager backend"


def test_every_volume_is_declared_and_used(compose):
    used = {v for svc in compose["services"].values() for v in mounts(svc).values()}
    assert used == set(compose["volumes"])


def test_global_publishes_its_api_and_zones_distinct_ports(compose):
    g = the_args(compose, "global")
    assert g.host == "0.0.0.0" and "global" in g.kds_tls_san
    hosts = [published(compose["services"]["global"])[g.api_port]]
    assert set(published(compose["services"]["global"])) == {g.api_port}, "KDS stays on the compose network"
    for zone in ZONES:
        z = the_args(compose, zone)
        assert z.name == zone and z.host == "0.0.0.0"
        url = urllib.parse.urlparse(z.global_address)
        assert (url.scheme, url.hostname, url.port) == ("wss", "global", g.kds_port)
        assert set(published(compose["services"][zone])) == {z.api_port}
        hosts.append(published(compose["services"][zone])[z.api_port])
        assert str(z.api_port) in " ".join(compose["services"][zone]["healthcheck"]["test"])
    assert len(set(hosts)) == len(hosts)
    for server in SERVERS:
        assert "ports" not in compose["services"][server], f"{server} stays on the compose network"


def test_zones_get_only_their_token_and_the_kds_ca(compose):
    g = the_args(compose, "global")
    global_volume = mounts(compose["services"]["global"])[g.data_dir]
    tokens = compose["services"]["tokens"]
    script = tokens["command"][2]
    assert f"cp {g.data_dir}/kds-ca.crt /tokens/kds-ca.crt" in script
    loop = re.search(r"for z in ([\w\- ]+); do", script)
    assert loop and loop.group(1).split() == ZONES
    (argv,) = script_lines(script)
    assert parse([w.replace("$$z", "zone-1") for w in argv]).command == "token"
    assert "/tokens/$$z.token" in script
    for zone in ZONES:
        z = the_args(compose, zone)
        svc = compose["services"][zone]
        assert z.token_file == f"/tokens/{zone}.token" and z.kds_ca_cert == "/tokens/kds-ca.crt"
        assert mounts(svc)["/tokens"] == mounts(tokens)["/tokens"] and "tokens:/tokens:ro" in svc["volumes"]
        assert global_volume not in mounts(svc).values(), f"{zone} must not see global's data (signing keys)"


def test_the_jobs_authenticate_with_the_admin_token_read_only(compose):
    g = the_args(compose, "global")
    global_volume = mounts(compose["services"]["global"])[g.data_dir]
    for job in JOBS:
        svc = compose["services"][job]
        assert svc["environment"]["MZSIM_API_TOKEN_FILE"] == f"{g.data_dir}/admin-user-token"
        assert urllib.parse.urlparse(svc["environment"]["MZSIM_GLOBAL_API"]).hostname == "global"
        assert f"{global_volume}:{g.data_dir}:ro" in svc["volumes"]


def test_kubernetes_zone_and_global_use_kube_apis_kubeconfig(compose):
    kube = the_args(compose, "kube-api")
    assert kube.host == compose["services"]["kube-api"]["hostname"] == "kube-api", \
        "its certificate and kubeconfig name the host others dial"
    assert kube.token_file and kube.tls_dir and kube.data, "restarts keep the token, the CA and the objects"
    kube_volume = mounts(compose["services"]["kube-api"])[os.path.dirname(kube.kubeconfig_out)]
    users = {"global": the_args(compose, "global").kubeconfig, "zone-1": the_args(compose, "zone-1").kubeconfig,
             "certmanager-controller": the_args(compose, "certmanager-controller").kubeconfig}
    for name, path in users.items():
        assert path == kube.kubeconfig_out, name
        assert f"{kube_volume}:{os.path.dirname(path)}:ro" in compose["services"][name]["volumes"], name
    (setup,) = [a for a in bootstrap_commands() if a.command == "certmanager"]
    assert setup.kubeconfig == kube.kubeconfig_out
    z1 = the_args(compose, "zone-1")
    assert z1.environment == "kubernetes" and "certmanager" in z1.mesh.split(",")
    for zone in ("zone-2", "zone-3"):
        z = the_args(compose, zone)
        assert z.environment in (None, "universal") and "certmanager" not in z.mesh.split(",")
        assert set(z.mesh.split(",")) == {"default", "vault", "acmpca"}


def test_backends_are_reached_by_service_name(compose):
    cmds = {a.command: a for a in bootstrap_commands()}
    assert urllib.parse.urlparse(cmds["vault"].address).hostname == "openbao"
    acm = the_args(compose, "acmpca")
    for name in ("global", "bootstrap", *ZONES):
        env = compose["services"][name]["environment"]
        url = urllib.parse.urlparse(env["AWS_ENDPOINT_URL_ACM_PCA"])
        assert (url.hostname, url.port) == ("acmpca", acm.port), name
    assert acm.host == "0.0.0.0"


def test_the_dockerfile_keeps_build_inputs_out_of_the_final_image(stages):
    preamble, build, final = stages
    assert preamble == [("ARG", "BASE_IMAGE=python:3.11-slim")]
    assert build[0] == ("FROM", "${BASE_IMAGE} AS build") and final[0] == ("FROM", "${BASE_IMAGE}")
    assert ("COPY", "compose/extra-ca/ /tmp/extra-ca/") in build
    assert any(i == "ENV" and "PIP_CERT=/tmp/ca-bundle.pem" in a for i, a in build)
    deps = next(a for i, a in build if i == "RUN" and "requirements.txt" in a)
    assert "x['backends'] + x['services']" in deps, "the image has the backends and services extras"
    assert any(i == "RUN" and "pip install" in a and "--no-deps ." in a for i, a in build)
    assert not any(i in ("ENV", "ARG") and "PIP_CERT" in a for i, a in final), "the CA bundle stays in the build"
    for instr, arg in final:
        if instr == "COPY":
            assert "extra-ca" not in arg
            src = arg.split()[1] if arg.startswith("--from") else None
            assert src is None or src == "/opt/mzsim"
            for path in ([] if arg.startswith("--from") else arg.split()[:-1]):
                assert os.path.exists(os.path.join(REPO, path)), f"COPY {path}: not in the build context"
    assert final[-2][0] == "USER" and final[-2][1] != "root"
    with open(os.path.join(REPO, "pyproject.toml")) as f:
        packages = re.search(r'include = \[([^\]]*)\]', f.read()).group(1)
    copied = {a.split()[0] for i, a in build if i == "COPY"}
    for pkg in re.findall(r'"(\w+)\*"', packages):
        assert pkg in copied, f"the image misses package {pkg}"
    with open(os.path.join(REPO, ".dockerignore")) as f:
        allowed = {line[1:] for line in f.read().split() if line.startswith("!")}
    assert copied - {"compose/extra-ca/"} <= allowed | {"README.md"}


def test_the_builtin_mesh_validates():
    with open(os.path.join(COMPOSE, "mesh-default.yaml")) as f:
        (doc,) = load_documents(f.read(), "mesh-default.yaml")
    res = parse_resource(doc)
    assert res.kind == "Mesh" and list(validate_resource(res)) == []
    assert res.spec["mtls"]["backends"][0]["type"] == "builtin"
