#!/usr/bin/env bash
# Runs the health checks of podman's running containers every PERIOD seconds.
# Podman schedules health checks with systemd timers; on a host without systemd
# (a container, a CI runner) nothing runs them, a container stays "starting"
# forever and `depends_on: condition: service_healthy` never proceeds. This loop
# is that timer. compose/local-engine.sh starts it; not needed with Docker.
set -u
PERIOD=${1:-2}
while true; do
  podman ps --format '{{.ID}} {{.Status}}' 2>/dev/null | while read -r id status; do
    case "$status" in
      *"(starting)"*|*"(healthy)"*|*"(unhealthy)"*) podman healthcheck run "$id" </dev/null >/dev/null 2>&1 || true ;;
    esac
  done
  sleep "$PERIOD"
done
