#!/usr/bin/env bash
# A Docker-compatible engine for a Debian machine that has no Docker engine:
# podman (with runc) serving the Docker API on a unix socket, docker compose v2,
# and a local base image built by debootstrap (for machines that can reach no
# container registry). Idempotent: each step is skipped when already done.
# Run as root. At the end it prints the environment to export (see README.md here).
# On a machine whose Docker engine answers, it changes nothing.
set -euo pipefail

STATE=${MZSIM_ENGINE_DIR:-/var/lib/mzsim-engine}
SOCK="$STATE/podman.sock"
BASE_IMAGE=${MZSIM_BASE_IMAGE:-localhost/mzsim-base:bookworm}
SUITE=bookworm
# The Debian mirror this machine's apt already uses (deb822 or one-line sources).
mirror=$(grep -rhoE '(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
         | grep -oE 'https?://[^ ]+' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
say() { echo "[local-engine] $*" >&2; }

if [ -z "${DOCKER_HOST:-}" ] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  say "a Docker engine answers: nothing to set up (use docker compose as usual)"
  exit 0
fi
[ "$(id -u)" = 0 ] || { say "run as root (it installs packages and writes /etc/containers)"; exit 1; }
mkdir -p "$STATE"

# 1. Packages. runc: crun fails on hosts with hybrid cgroups ("cgroups in hybrid mode not supported").
# catatonit: podman's init for `init: true`; the CNI dnsname plugin: containers find each other by service
# name (podman 4.3 on CNI). Neither is a hard dependency of podman, and --no-install-recommends skips them.
PKGS=(podman runc catatonit golang-github-containernetworking-plugin-dnsname uidmap slirp4netns fuse-overlayfs debootstrap curl ca-certificates)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. containers.conf: the settings this kind of host needs (it cannot raise rlimits; hybrid cgroups).
CONF=/etc/containers/containers.conf
MARK="# written by mzsim compose/local-engine.sh"
if [ ! -e "$CONF" ] || head -1 "$CONF" | grep -qF "$MARK"; then
  cat > "$CONF.tmp" <<EOF
$MARK
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  mv "$CONF.tmp" "$CONF"
else
  say "$CONF exists and was not written by this script: left alone (it needs runtime=runc, default_ulimits, cgroupfs)"
fi

# 3. docker compose v2 (it has --wait). Debian bookworm only has compose 1.29, so take
# the binary from Debian trixie's docker-compose package, through apt with a private
# source list (the machine's own apt sources are not touched).
COMPOSE="$STATE/bin/docker-compose"
if [ ! -x "$COMPOSE" ]; then
  say "fetching docker compose v2 (Debian trixie's docker-compose package) ..."
  APTD="$STATE/apt-trixie"
  mkdir -p "$APTD/lists/partial" "$APTD/cache/archives/partial" "$APTD/etc/preferences.d" "$STATE/bin"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' "$mirror" > "$APTD/etc/sources.list"
  aptopts=(-o Dir::Etc::SourceList="$APTD/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$APTD/etc/preferences.d"
           -o Dir::State::Lists="$APTD/lists" -o Dir::Cache="$APTD/cache" -o Dir::State::Status=/dev/null
           -o APT::Architecture="$(dpkg --print-architecture)" -o Acquire::Languages=none
           -o Acquire::Check-Valid-Until=false)
  apt-get "${aptopts[@]}" update -qq
  (cd "$APTD" && apt-get "${aptopts[@]}" download -qq docker-compose)
  rm -rf "$APTD/x" && dpkg-deb -x "$APTD"/docker-compose_*.deb "$APTD/x"
  bin=$(find "$APTD/x" -type f -name docker-compose -perm -u+x | head -1)
  install -m 0755 "$bin" "$COMPOSE"
  rm -rf "$APTD"
fi
# Also as a docker CLI plugin, so `docker compose` works where the docker client is installed.
mkdir -p /usr/local/lib/docker/cli-plugins
ln -sf "$COMPOSE" /usr/local/lib/docker/cli-plugins/docker-compose

# 4. The base image, from Debian's archive (no registry needed): minbase + python3.
if ! podman image exists "$BASE_IMAGE"; then
  ROOT="$STATE/rootfs"
  rm -rf "$ROOT"
  say "building base image $BASE_IMAGE: debootstrap --variant=minbase $SUITE (about 45 s) ..."
  debootstrap --variant=minbase "$SUITE" "$ROOT" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
    || { say "debootstrap failed; see $STATE/debootstrap.log"; tail -20 "$STATE/debootstrap.log" >&2; exit 1; }
  say "installing python3 in it (about 15 s) ..."
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  chroot "$ROOT" sh -ec 'apt-get -o Acquire::Check-Valid-Until=false update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv python3-pip ca-certificates >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*'
  : > "$ROOT/etc/resolv.conf"
  say "importing it into podman ..."
  tar -C "$ROOT" -c . | podman import --quiet --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$ROOT"
fi

# 5. The Docker-compatible API socket.
if ! curl -sf --max-time 3 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
  say "starting podman system service on $SOCK ..."
  rm -f "$SOCK"
  nohup podman system service --time=0 "unix://$SOCK" >"$STATE/podman-service.log" 2>&1 &
  echo $! > "$STATE/podman-service.pid"
  for _ in $(seq 1 100); do
    curl -sf --max-time 1 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf --max-time 3 --unix-socket "$SOCK" http://d/_ping >/dev/null || { say "the socket did not answer; see $STATE/podman-service.log"; exit 1; }
fi

# 6. Health checks: podman runs them from systemd timers, and there may be no systemd.
HERE=$(cd "$(dirname "$0")" && pwd)
if ! { [ -s "$STATE/health-ticker.pid" ] && kill -0 "$(cat "$STATE/health-ticker.pid")" 2>/dev/null; }; then
  if ! pidof systemd >/dev/null 2>&1; then
    say "no systemd: starting the health-check ticker (compose/podman-health-ticker.sh) ..."
    nohup bash "$HERE/podman-health-ticker.sh" 2 >"$STATE/health-ticker.log" 2>&1 &
    echo $! > "$STATE/health-ticker.pid"
  fi
fi

say "ready. Use:"
cat <<EOF
export DOCKER_HOST=unix://$SOCK
export DOCKER_BUILDKIT=0
export MZSIM_BASE_IMAGE=$BASE_IMAGE
export PATH=$STATE/bin:\$PATH
EOF
