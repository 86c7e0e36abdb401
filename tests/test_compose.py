"""compose/: checked without Docker (no engine on these machines). Every command
must parse with the real `mzsim` parser; ports, volumes, token paths and
dependencies must agree with each other; what the image needs must be in the
build context; and the demo's mesh must pass global's validation."""
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


@pytest.fixture(scope="module")
def compose() -> dict:
    with open(os.path.join(COMPOSE, "docker-compose.yml")) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments dropped."""
    with open(os.path.join(COMPOSE, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instr, _, rest = line.partition(" ")
            out.append((instr.upper(), rest.strip()))
    return out


def invocations(service: dict) -> list[tuple[list[str], str | None]]:
    """Each mzsim invocation of a service as (argv after 'mzsim', stdout redirect target).
    Exec-form commands are one invocation; `sh -ec SCRIPT` is one per script line."""
    cmd = service["command"]
    assert isinstance(cmd, list), "use the exec (list) form, so arguments need no shell quoting"
    if cmd[:2] in (["sh", "-c"], ["sh", "-ec"]):
        lines = [line for line in cmd[2].splitlines() if line.strip()]
    else:
        lines = [shlex.join(cmd)]
    out = []
    for line in lines:
        words = shlex.split(line)
        if words[0] == "cp":  # the tokens job hands global's public KDS CA to the zones
            continue
        target = None
        if ">" in words:
            i = words.index(">")
            target, words = words[i + 1], words[:i]
        assert words[0] == "mzsim", f"{line!r}: every command runs mzsim"
        out.append((words[1:], target))
    return out


def parse(argv: list[str]):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"mzsim {shlex.join(argv)} does not parse (exit {e.code})")
    assert getattr(args, "func", None), f"mzsim {shlex.join(argv)} names no command"
    return args


def the_args(compose: dict, name: str):
    (argv, _), = invocations(compose["services"][name])
    return parse(argv)


def published(service: dict) -> dict[int, int]:
    """container port -> host port"""
    out = {}
    for p in service.get("ports", []):
        host, _, container = str(p).rpartition(":")
        out[int(container)] = int(host.rpartition(":")[2] or container)
    return out


def mounts(service: dict) -> dict[str, str]:
    """container path -> volume name"""
    return {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}


def test_every_command_parses_with_the_real_mzsim_parser(compose):
    assert set(compose["services"]) == {"global", "tokens", "apply", *ZONES}
    seen = set()
    for svc in compose["services"].values():
        for argv, _ in invocations(svc):
            args = parse(argv)
            seen.add(args.command)
    assert seen == {"global", "token", "zone", "apply"}


def test_global_listens_on_all_interfaces_and_publishes_its_api(compose):
    g = the_args(compose, "global")
    assert g.host == "0.0.0.0"
    assert published(compose["services"]["global"]) == {g.api_port: g.api_port}
    assert mounts(compose["services"]["global"])[g.data_dir] in compose["volumes"]


def test_zones_reach_global_and_publish_distinct_api_ports(compose):
    g = the_args(compose, "global")
    host_ports = set()
    for zone in ZONES:
        svc = compose["services"][zone]
        z = the_args(compose, zone)
        assert z.name == zone and z.host == "0.0.0.0" and z.dataplanes == 20
        url = urllib.parse.urlparse(z.global_address)
        assert (url.scheme, url.hostname, url.port) == ("wss", "global", g.kds_port)
        assert url.hostname in g.kds_tls_san, "global's generated KDS certificate names the host zones dial"
        assert os.path.dirname(z.kds_ca_cert) == os.path.dirname(z.token_file), "the CA comes with the token"
        assert mounts(compose["services"]["global"])[g.data_dir] not in mounts(svc).values(), \
            f"{zone} must not see global's data (signing keys)"
        ports = published(svc)
        assert list(ports) == [z.api_port], f"{zone} publishes its API port"
        host_ports.add(ports[z.api_port])
        assert str(z.api_port) in svc["healthcheck"]["test"][-1]
        assert mounts(svc)[z.data_dir] in compose["volumes"]
    assert len(host_ports) == len(ZONES)
    assert the_args(compose, "global").api_port not in host_ports


def test_each_zone_reads_the_token_the_tokens_service_writes_for_it(compose):
    tokens = compose["services"]["tokens"]
    written = {}
    for argv, target in invocations(tokens):
        args = parse(argv)
        assert args.command == "token" and target
        assert urllib.parse.urlparse(args.global_api).hostname == "global"
        written[args.zone] = target
    assert set(written) == set(ZONES)
    for zone in ZONES:
        z = the_args(compose, zone)
        assert z.token_file == written[zone]
        directory = os.path.dirname(z.token_file)
        assert mounts(compose["services"][zone])[directory] == mounts(tokens)[directory], \
            f"{zone} and tokens share the token volume at {directory}"


def test_the_tokens_job_hands_globals_kds_ca_to_the_zones(compose):
    g = the_args(compose, "global")
    script = compose["services"]["tokens"]["command"][2]
    copies = [shlex.split(line)[1:] for line in script.splitlines() if line.strip().startswith("cp ")]
    assert copies == [[os.path.join(g.data_dir, "kds-ca.crt"), the_args(compose, "zone-1").kds_ca_cert]]


def test_the_one_shot_jobs_authenticate_with_the_admin_token_from_globals_volume(compose):
    """They are not on global's loopback, so without a token they are anonymous (401)."""
    g = the_args(compose, "global")
    global_volume = mounts(compose["services"]["global"])[g.data_dir]
    for job in ("tokens", "apply"):
        svc = compose["services"][job]
        for argv, _ in invocations(svc):
            args = parse(argv)
            assert args.api_token_file == os.path.join(g.data_dir, "admin-user-token"), (job, argv)
            directory = os.path.dirname(args.api_token_file)
            assert mounts(svc)[directory] == global_volume, f"{job} mounts global's data volume"
            assert any(v.endswith(f"{directory}:ro") for v in svc["volumes"]), f"{job} mounts it read-only"


def test_start_order_waits_on_health_and_completion(compose):
    s = compose["services"]
    assert s["tokens"]["depends_on"] == {"global": {"condition": "service_healthy"}}
    for zone in ZONES:
        assert s[zone]["depends_on"]["global"]["condition"] == "service_healthy"
        assert s[zone]["depends_on"]["tokens"]["condition"] == "service_completed_successfully"
    assert {d: c["condition"] for d, c in s["apply"]["depends_on"].items()} == {
        "global": "service_healthy", **{z: "service_healthy" for z in ZONES}}
    for name in ("global", *ZONES):
        url = re.search(r"http://[^'\"]+", s[name]["healthcheck"]["test"][-1]).group(0)
        assert urllib.parse.urlparse(url).hostname == "127.0.0.1"
    for one_shot in ("tokens", "apply"):
        assert s[one_shot]["restart"] == "no"


def test_the_image_has_the_package_and_the_applied_mesh(compose, dockerfile):
    build = compose["services"]["global"]["build"]
    context = os.path.normpath(os.path.join(COMPOSE, build["context"]))
    assert context == REPO
    assert os.path.exists(os.path.join(context, build["dockerfile"]))
    assert dockerfile[0] == ("FROM", "python:3.11-slim")
    workdir = next(a for i, a in dockerfile if i == "WORKDIR")
    copies = {}
    for instr, arg in dockerfile:
        if instr == "COPY":
            *sources, dest = arg.split()
            for src in sources:
                assert os.path.exists(os.path.join(context, src)), f"COPY {src}: not in the build context"
                target = os.path.join(workdir, dest, os.path.basename(src)) if dest.endswith("/") else \
                    os.path.join(workdir, dest)
                copies[os.path.normpath(target)] = src
    with open(os.path.join(REPO, "pyproject.toml")) as f:
        packages = re.search(r'include = \[([^\]]*)\]', f.read()).group(1)
    for pkg in re.findall(r'"(\w+)\*"', packages):
        assert os.path.join(workdir, pkg) in copies, f"the image misses package {pkg}"
    assert any(i == "RUN" and "pip install ." in a for i, a in dockerfile)

    apply = the_args(compose, "apply")
    assert urllib.parse.urlparse(apply.global_api).hostname == "global"
    (in_image,) = apply.file
    assert in_image in copies, f"{in_image} is not copied into the image"
    with open(os.path.join(context, copies[in_image])) as f:
        docs = load_documents(f.read(), in_image)
    for doc in docs:
        res = parse_resource(doc)
        assert res.kind == "Mesh"
        assert list(validate_resource(res)) == []
        assert res.spec["mtls"]["backends"][0]["type"] == "builtin"  # no external service needed
