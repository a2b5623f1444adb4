#!/usr/bin/env bash
# Fault survival on PostgreSQL: `identity-bench soak` (see bench/README.md, "Soak") with the
# core and the edge killed with SIGKILL and restarted, and PostgreSQL restarted, in turn.
#
# usage: bench/soak.sh [--short] [more identity-bench soak flags]
#   --short   the mode CI runs: 60 seconds, a fault every 8 seconds (default: 10 minutes)
#   env: IDENTITY_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test),
#        SOAK_PROFILE=release to soak the optimised binaries (default: the debug build CI has)
# PostgreSQL is restarted with pg_ctlcluster when this machine runs its cluster that way (as
# root, or through passwordless sudo); otherwise only the core and the edge are killed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
URL=${IDENTITY_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
PROFILE=${SOAK_PROFILE:-debug}
CARGO_FLAGS=()
[[ "$PROFILE" == release ]] && CARGO_FLAGS+=(--release)
[[ "${CI:-}" == true ]] && CARGO_FLAGS+=(--locked)

cargo build "${CARGO_FLAGS[@]}" -p identity-core -p scim-edge -p identity-bench --bins

RESTART=()
if command -v pg_lsclusters > /dev/null 2>&1; then
  read -r VERSION CLUSTER < <(pg_lsclusters -h | awk '$4 == "online" { print $1, $2; exit }') || true
  if [[ -n "${VERSION:-}" ]]; then
    SUDO=""
    if [[ "$(id -u)" -ne 0 ]]; then
      if sudo -n true 2> /dev/null; then SUDO="sudo -n "; else VERSION=""; fi
    fi
    [[ -n "$VERSION" ]] && RESTART=(--restart-postgres "${SUDO}pg_ctlcluster $VERSION $CLUSTER restart")
  fi
fi
[[ ${#RESTART[@]} -eq 0 ]] && echo "soak: PostgreSQL will not be restarted (no pg_ctlcluster cluster this user may restart)" >&2

"${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/identity-bench" soak --database-url "$URL" "${RESTART[@]}" "$@"
