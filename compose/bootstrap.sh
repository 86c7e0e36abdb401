#!/bin/sh
# The compose demo's bootstrap job (service `bootstrap` in docker-compose.yml): the
# seed documents' setup steps against the backend containers, then four meshes on
# global: default (builtin), vault (OpenBao), acmpca (ACM PCA on moto) and
# certmanager (kube-api + the cert-manager controller). Each step is idempotent,
# so the job can run again. Global's address and the admin token come from
# MZSIM_GLOBAL_API and MZSIM_API_TOKEN_FILE (set in docker-compose.yml).
set -eu
umask 077  # vault.yaml holds the Vault token that the mesh uses
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
LIFETIME=${CERT_LIFETIME:-1m}
say() { echo "[bootstrap] $*"; }
# Each step is retried with backoff: a name can briefly fail to resolve while the
# compose network's DNS takes in containers that start at the same moment.
# retry FILE CMD...: CMD's stdout goes to FILE, afresh at each attempt.
retry() {
  out=$1; shift; n=1
  until "$@" > "$out"; do
    [ "$n" -lt 5 ] || { say "giving up after $n attempts: $1 $2"; return 1; }
    say "attempt $n failed; retrying in $((n * 2)) s ..."
    sleep $((n * 2)); n=$((n + 1))
  done
}
lifetime() { sed "s/expiration: 24h/expiration: $LIFETIME/" "$1" > "$1.tmp" && mv "$1.tmp" "$1"; }

say "vault: PKI, role, policy and token on OpenBao (mzsim vault setup) ..."
VAULT_TOKEN=$(cat /data/openbao/root-token)
export VAULT_TOKEN
retry "$W/vault.yaml" mzsim vault setup --address http://openbao:8200 --mesh vault \
  --key-type ec --root-out "$W/vault-root.pem"
lifetime "$W/vault.yaml"

say "acmpca: a root CA on the ACM PCA endpoint (mzsim acmpca setup) ..."
retry "$W/acmpca.yaml" mzsim acmpca setup --mesh acmpca --root-out "$W/acmpca-root.pem"
lifetime "$W/acmpca.yaml"

say "certmanager: CA secret and Issuer in kong-mesh-system (mzsim certmanager setup) ..."
retry "$W/certmanager.yaml" mzsim certmanager setup --kubeconfig /kube/kubeconfig.yaml --mesh certmanager
lifetime "$W/certmanager.yaml"

# The vault token is a mesh Secret, so its mesh must exist first: an empty one, unless
# it exists already (a re-run must not switch its mTLS off, even briefly).
first=""
if ! python3 -c 'import os, sys, urllib.request; urllib.request.urlopen(os.environ["MZSIM_GLOBAL_API"] + "/meshes/vault", timeout=10)' 2>/dev/null; then
  printf 'type: Mesh\nname: vault\n' > "$W/vault-mesh.yaml"
  first="-f $W/vault-mesh.yaml"
fi
say "applying the meshes default, vault, acmpca, certmanager (global test-issues from each) ..."
# shellcheck disable=SC2086
retry "$W/apply.out" mzsim apply -f /app/compose/mesh-default.yaml $first -f "$W/vault.yaml" \
  -f "$W/acmpca.yaml" -f "$W/certmanager.yaml"
cat "$W/apply.out"
say "done"
