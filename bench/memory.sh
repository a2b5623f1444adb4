#!/usr/bin/env bash
# Memory under hostile request shapes, as peak RSS (VmHWM) of the release binaries:
#   flood      the edge under concurrent 4 MiB bodies of one-key objects ([{"a":1},…]), the
#              shape whose JSON tree costs the most per byte
#   passwords  the core under concurrent user creations that each carry a password (Argon2id,
#              19 MiB per hash)
#
# usage: bench/memory.sh flood [CONCURRENT=16] [ROUNDS=3]
#        bench/memory.sh passwords [CONCURRENT=100]
#   env: BIN (default target/release, or $CARGO_TARGET_DIR/release), EDGE_BIN (default
#        $BIN/scim-edge: compare two builds), and any IDENTITY_* / SCIM_EDGE_* setting, for
#        example IDENTITY_PASSWORD_HASH_CONCURRENCY=100 to see hashing without its bound.
# The stack runs on a SQLite file in a temporary directory, the edge's rate limits off.
set -euo pipefail
MODE=${1:?flood or passwords}
CONCURRENT=${2:-}
ROUNDS=${3:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
EDGE_BIN=${EDGE_BIN:-$BIN/scim-edge}
W=$(mktemp -d /tmp/identity-memory.XXXXXX)
SERVERS=()
cleanup() {
  for p in "${SERVERS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
ADMIN=memoryadminmemoryadmin1234
EDGECRED=memoryedgememoryedge1234
IDENTITY_DATABASE_URL="sqlite://$W/identity.db?mode=rwc" IDENTITY_ADMIN_TOKEN=$ADMIN \
  IDENTITY_EDGE_CREDENTIAL=$EDGECRED IDENTITY_LISTEN_ADDR=127.0.0.1:36051 \
  IDENTITY_ADMIN_LISTEN_ADDR=127.0.0.1:36052 RUST_LOG=warn "$BIN/identity-core" > "$W/core.log" 2>&1 &
CORE=$!
SERVERS+=("$CORE")
export IDENTITY_ADMIN_ENDPOINT=http://127.0.0.1:36052 IDENTITY_ADMIN_CREDENTIAL=$ADMIN
for _ in $(seq 1 100); do "$BIN/identity-admin" org list > /dev/null 2>&1 && break; sleep 0.2; done
"$BIN/identity-admin" org create --slug memory --name Memory > /dev/null
"$BIN/identity-admin" scim enable --org memory > /dev/null
TOKEN=$("$BIN/identity-admin" token issue --org memory --description memory 2> /dev/null)
SCIM_EDGE_LISTEN_ADDR=127.0.0.1:36080 SCIM_EDGE_CORE_ENDPOINT=http://127.0.0.1:36051 \
  SCIM_EDGE_CORE_CREDENTIAL=$EDGECRED SCIM_EDGE_ORG_REQUESTS_PER_SECOND=0 \
  SCIM_EDGE_TOKEN_REQUESTS_PER_SECOND=0 SCIM_EDGE_ORG_MAX_CONCURRENT_REQUESTS=0 RUST_LOG=warn \
  "$EDGE_BIN" > "$W/edge.log" 2>&1 &
EDGE=$!
SERVERS+=("$EDGE")
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:36080/healthz > /dev/null && break; sleep 0.1; done
kb() { awk -v key="$2:" '$1 == key {print $2}' "/proc/$1/status"; }
post() { # body file → status code
  curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/scim+json' --data-binary "@$1" http://127.0.0.1:36080/scim/v2/Users
}

case $MODE in
  flood)
    CONCURRENT=${CONCURRENT:-16}
    python3 -c 'n = (4 * 1024 * 1024 - 16) // 8; print("[" + "{\"a\":1}," * (n - 1) + "{\"a\":1}]", end="")' > "$W/body.json"
    echo "edge rss idle: $(kb "$EDGE" VmRSS) kB; body $(stat -c %s "$W/body.json") bytes; $CONCURRENT at once, $ROUNDS rounds"
    for _ in $(seq 1 "$ROUNDS"); do
      pids=()
      for _ in $(seq 1 "$CONCURRENT"); do post "$W/body.json" >> "$W/status" & pids+=($!); done
      wait "${pids[@]}"
    done
    echo "answers: $(sort "$W/status" | uniq -c | tr -s ' ' | tr '\n' ' ')"
    echo "edge peak rss (VmHWM): $(kb "$EDGE" VmHWM) kB; after: $(kb "$EDGE" VmRSS) kB"
    ;;
  passwords)
    CONCURRENT=${CONCURRENT:-100}
    echo "core rss idle: $(kb "$CORE" VmRSS) kB; $CONCURRENT creations with a password at once"
    pids=()
    for i in $(seq 1 "$CONCURRENT"); do
      printf '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"p%s@example.com","password":"correct horse battery staple %s"}' "$i" "$i" > "$W/user$i.json"
      post "$W/user$i.json" >> "$W/status" & pids+=($!)
    done
    wait "${pids[@]}"
    echo "answers: $(sort "$W/status" | uniq -c | tr -s ' ' | tr '\n' ' ')"
    echo "core peak rss (VmHWM): $(kb "$CORE" VmHWM) kB; after: $(kb "$CORE" VmRSS) kB"
    ;;
  *)
    echo "unknown mode $MODE (flood or passwords)" >&2
    exit 2
    ;;
esac
