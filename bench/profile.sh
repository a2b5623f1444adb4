#!/usr/bin/env bash
# Per-request cost of the SCIM workloads, counted rather than timed: instructions (valgrind
# callgrind, repeatable on a busy machine) in the edge and in the core, and the SQL statements and
# gRPC calls the core served, per SCIM request.
#
# usage: bench/profile.sh [REQUESTS=200] [USERS=200]
#   env: BIN (default target/release, or $CARGO_TARGET_DIR/release), DATABASE_URL (default a
#        SQLite file in a temporary directory), WORKLOADS (default "post get filter patch page")
#
# The edge's rate limits are raised out of the way (their checks still run): a long run would
# otherwise meet them. Each SQLite pool connection prepares a statement the first time it runs
# it (a user read's is about 0.5M instructions): use a few hundred requests so that is amortised.
#
# Both processes run under callgrind; the counters are zeroed after set-up and dumped after each
# workload, so start-up and set-up are not counted. Statement and call counts come from the
# core's /metrics (db.client.operation.duration and rpc.server.call.duration counts).
set -euo pipefail
REQUESTS=${1:-200}
USERS=${2:-200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
WORKLOADS=${WORKLOADS:-"post get filter patch page"}
W=$(mktemp -d /tmp/identity-profile.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
DB=${DATABASE_URL:-"sqlite://$W/identity.db?mode=rwc"}
ADMIN=profileadminprofileadmin1234
EDGECRED=profileedgeprofileedge1234
CORE_PORT=35051 ADMIN_PORT=35052 METRICS_PORT=35053 EDGE_PORT=38080

env IDENTITY_DATABASE_URL="$DB" IDENTITY_ADMIN_TOKEN=$ADMIN IDENTITY_EDGE_CREDENTIAL=$EDGECRED \
  IDENTITY_LISTEN_ADDR=127.0.0.1:$CORE_PORT IDENTITY_ADMIN_LISTEN_ADDR=127.0.0.1:$ADMIN_PORT \
  IDENTITY_METRICS_LISTEN_ADDR=127.0.0.1:$METRICS_PORT RUST_LOG=warn \
  valgrind --tool=callgrind --callgrind-out-file="$W/core.%p.out" --dump-instr=no \
  "$BIN/identity-core" >"$W/core.log" 2>&1 &
CORE=$!
PIDS+=("$CORE")
export IDENTITY_ADMIN_ENDPOINT=http://127.0.0.1:$ADMIN_PORT IDENTITY_ADMIN_CREDENTIAL=$ADMIN
for _ in $(seq 1 300); do "$BIN/identity-admin" org list >/dev/null 2>&1 && break; sleep 0.2; done
"$BIN/identity-admin" org create --slug profile --name Profile >/dev/null
ROLE_SETUP=$("$BIN/identity-admin" scim enable --org profile 2>&1) || { echo "$ROLE_SETUP"; exit 1; }
TOKEN=$("$BIN/identity-admin" token issue --org profile --description profile)
env SCIM_EDGE_LISTEN_ADDR=127.0.0.1:$EDGE_PORT SCIM_EDGE_CORE_ENDPOINT=http://127.0.0.1:$CORE_PORT \
  SCIM_EDGE_CORE_CREDENTIAL=$EDGECRED RUST_LOG=warn \
  SCIM_EDGE_ORG_REQUESTS_PER_SECOND=1000000 SCIM_EDGE_ORG_BURST=1000000 \
  SCIM_EDGE_TOKEN_REQUESTS_PER_SECOND=1000000 SCIM_EDGE_TOKEN_BURST=1000000 \
  valgrind --tool=callgrind --callgrind-out-file="$W/edge.%p.out" --dump-instr=no \
  "$BIN/scim-edge" >"$W/edge.log" 2>&1 &
EDGE=$!
PIDS+=("$EDGE")
BASE=http://127.0.0.1:$EDGE_PORT/scim/v2
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$EDGE_PORT/readyz" >/dev/null && break; sleep 0.2; done

scim() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/scim+json' "$@"; }
user_json() {
  printf '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s@example.com","name":{"givenName":"G","familyName":"F"},"emails":[{"value":"%s@example.com","type":"work","primary":true}],"active":true}' "$1" "$1"
}
# set-up: USERS users (their ids drive get and patch) and a group holding the first of them
IDS=()
for i in $(seq 1 "$USERS"); do
  IDS+=("$(scim -d "$(user_json "setup$i")" "$BASE/Users" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
done
scim -d "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"profile\",\"members\":[{\"value\":\"${IDS[0]}\"}]}" \
  "$BASE/Groups" >/dev/null

counts() { curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | python3 -c '
import sys
statements = calls = 0
for line in sys.stdin:
    if line.startswith("db_client_operation_duration_seconds_count"):
        statements += float(line.rsplit(" ", 1)[1])
    elif line.startswith("rpc_server_call_duration_seconds_count"):
        calls += float(line.rsplit(" ", 1)[1])
print(int(statements), int(calls))'; }

# one request of a curl config file: one curl process sends them all over one keep-alive
# connection, as an identity provider does
request() { # METHOD URL [BODY]
  printf 'next\nurl = "%s"\nrequest = "%s"\noutput = "/dev/null"\nfail\nsilent\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/scim+json"\n' "$2" "$1" "$TOKEN"
  if [ -n "${3:-}" ]; then printf 'data = "%s"\n' "${3//\"/\\\"}"; fi
}
requests() {
  case $1 in
    post) for i in $(seq 1 "$REQUESTS"); do request POST "$BASE/Users" "$(user_json "post$i")"; done ;;
    get) for i in $(seq 0 $((REQUESTS - 1))); do request GET "$BASE/Users/${IDS[$((i % USERS))]}"; done ;;
    filter) for i in $(seq 0 $((REQUESTS - 1))); do
        request GET "$BASE/Users?filter=userName%20eq%20%22setup$((i % USERS + 1))@example.com%22"; done ;;
    patch) for i in $(seq 0 $((REQUESTS - 1))); do
        request PATCH "$BASE/Users/${IDS[$((i % USERS))]}" \
          "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":\"active\",\"value\":$([ $((i / USERS % 2)) = 0 ] && echo false || echo true)}]}"
      done ;;
    page) for i in $(seq 0 $((REQUESTS / 10 - 1))); do
        request GET "$BASE/Users?startIndex=$(( (i * 100) % USERS + 1 ))&count=100"; done ;;
  esac
}
run() { requests "$1" | tail -n +2 >"$W/requests.curl"; curl -K "$W/requests.curl"; }

printf '%-8s %9s %14s %14s %11s %11s\n' workload requests edge_instr/req core_instr/req sql/req grpc/req
for workload in $WORKLOADS; do
  n=$REQUESTS
  [ "$workload" = page ] && n=$((REQUESTS / 10))
  # the /metrics scrapes happen outside the counted window: rendering every metric cost the
  # core about 18k instructions per GET of a 100-request run
  read -r s0 c0 < <(counts)
  callgrind_control -z "$CORE" >/dev/null 2>&1; callgrind_control -z "$EDGE" >/dev/null 2>&1
  run "$workload"
  callgrind_control -d "$workload" "$CORE" >/dev/null 2>&1
  callgrind_control -d "$workload" "$EDGE" >/dev/null 2>&1
  read -r s1 c1 < <(counts)
  sleep 1
  core_ir=$(grep -h '^summary:' "$W"/core.*.out.* | tail -1 | awk '{print $2}')
  edge_ir=$(grep -h '^summary:' "$W"/edge.*.out.* | tail -1 | awk '{print $2}')
  printf '%-8s %9d %14d %14d %11.2f %11.2f\n' "$workload" "$n" $((edge_ir / n)) $((core_ir / n)) \
    "$(echo "($s1 - $s0) / $n" | bc -l)" "$(echo "($c1 - $c0) / $n" | bc -l)"
  if [ -n "${KEEP:-}" ]; then
    mkdir -p "$KEEP"
    cat "$W"/core.*.out.* >"$KEEP/core.$workload.callgrind"
    cat "$W"/edge.*.out.* >"$KEEP/edge.$workload.callgrind"
  fi
  rm -f "$W"/*.out.*
done
