#!/usr/bin/env bash
# CPU per SCIM request of the edge and the core, each split into user and system time: the
# release binaries pinned to CPU 0, the comparison kit's driver (scimbench) on CPU 1, one
# workload at 32 requests in flight; the processes' CPU is read from /proc before and after.
#
# usage: KIT=/path/to/comparison-kit bash bench/cpu-per-request.sh [WORKLOAD=w3] [USERS=2000] [SECONDS=8]
#   env: DATABASE_URL (default SQLite in a temporary directory; a PostgreSQL database is used as
#        it is, so give an empty one), BIN (default $CARGO_TARGET_DIR/release or target/release)
# The edge's per-organization limits are off: this measures the stack, not its throttling.
set -euo pipefail
KIT=${KIT:?set KIT to the comparison kit directory}
WORKLOAD=${1:-w3}
USERS=${2:-2000}
SECONDS_=${3:-8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${BIN:-$TARGET/release}
W=$(mktemp -d /tmp/identity-cpu.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
# the kit is read-only where it lives: its driver is built from a copy
DRIVER_TARGET="$TARGET/kit-scimbench"
if [ ! -x "$DRIVER_TARGET/release/scimbench" ]; then
  cp -r "$KIT/scimbench" "$W/scimbench"
  (cd "$W/scimbench" && CARGO_TARGET_DIR="$DRIVER_TARGET" cargo build --release -q)
fi
DRIVER="$DRIVER_TARGET/release/scimbench"

ADMIN=cpuadmincpuadmincpuadmin1234
EDGECRED=cpuedgecpuedgecpuedge1234
DB=${DATABASE_URL:-"sqlite://$W/identity.db?mode=rwc"}
env IDENTITY_DATABASE_URL="$DB" IDENTITY_ADMIN_TOKEN=$ADMIN IDENTITY_EDGE_CREDENTIAL=$EDGECRED \
  IDENTITY_LISTEN_ADDR=127.0.0.1:36051 IDENTITY_ADMIN_LISTEN_ADDR=127.0.0.1:36052 RUST_LOG=warn \
  taskset -c 0 "$BIN/identity-core" >"$W/core.log" 2>&1 &
CORE=$!
PIDS+=("$CORE")
export IDENTITY_ADMIN_ENDPOINT=http://127.0.0.1:36052 IDENTITY_ADMIN_CREDENTIAL=$ADMIN
for _ in $(seq 1 300); do "$BIN/identity-admin" org list >/dev/null 2>&1 && break; sleep 0.2; done
"$BIN/identity-admin" org create --slug cpu --name CPU >/dev/null 2>&1
"$BIN/identity-admin" scim enable --org cpu >/dev/null
TOKEN=$("$BIN/identity-admin" token issue --org cpu --description cpu 2>/dev/null | tail -1)
env SCIM_EDGE_LISTEN_ADDR=127.0.0.1:36003 SCIM_EDGE_CORE_ENDPOINT=http://127.0.0.1:36051 \
  SCIM_EDGE_CORE_CREDENTIAL=$EDGECRED RUST_LOG=warn \
  SCIM_EDGE_ORG_REQUESTS_PER_SECOND=0 SCIM_EDGE_TOKEN_REQUESTS_PER_SECOND=0 \
  SCIM_EDGE_ORG_MAX_CONCURRENT_REQUESTS=0 SCIM_EDGE_HEAVY_REQUEST_SLOTS=0 \
  taskset -c 0 "$BIN/scim-edge" >"$W/edge.log" 2>&1 &
EDGE=$!
PIDS+=("$EDGE")
for _ in $(seq 1 300); do curl -sf http://127.0.0.1:36003/readyz >/dev/null && break; sleep 0.2; done
BASE=http://127.0.0.1:36003/scim/v2
cd "$W"
taskset -c 1 "$DRIVER" --workload setup --base-url "$BASE" --token "$TOKEN" --population "$USERS" \
  --group-size 100 --spares 500 >/dev/null
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
read -r EU0 ES0 < <(ticks "$EDGE")
read -r CU0 CS0 < <(ticks "$CORE")
taskset -c 1 "$DRIVER" --workload "$WORKLOAD" --base-url "$BASE" --token "$TOKEN" \
  --duration "$SECONDS_" --warmup 0 --concurrency 32 >"$W/run.json"
read -r EU1 ES1 < <(ticks "$EDGE")
read -r CU1 CS1 < <(ticks "$CORE")
python3 - "$W/run.json" "$(getconf CLK_TCK)" $((EU1 - EU0)) $((ES1 - ES0)) $((CU1 - CU0)) $((CS1 - CS0)) <<'PY'
import json, sys
run = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
hz = int(sys.argv[2])
edge_user, edge_sys, core_user, core_sys = (int(t) * 1000 / hz for t in sys.argv[3:7])
n = run["requests_ok"]
print(f"{run['workload']}: {run['rps']:.0f} requests/s, {run['errors']} errors, "
      f"p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms")
print(f"ms per request: edge user {edge_user / n:.4f} sys {edge_sys / n:.4f} | "
      f"core user {core_user / n:.4f} sys {core_sys / n:.4f} | "
      f"edge + core {(edge_user + edge_sys + core_user + core_sys) / n:.4f}")
PY
