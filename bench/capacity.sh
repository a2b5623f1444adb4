#!/usr/bin/env bash
# The capacity table of the README, in one sitting: the machine's limits (hyper hello-world,
# PostgreSQL pgbench), this stack on PostgreSQL and on SQLite, and the two peer SCIM servers, each
# server side pinned to CPU 0 and the load driver to CPU 1, with the comparison kit.
#
# usage: KIT=/path/to/comparison-kit bash bench/capacity.sh [N=10000] [REPS=2] [DURATION=10]
#   The kit (scimbench driver, peers, limit scripts) is read-only where it lives: it is copied to
#   a temporary directory first. Results: the kit copy's results/ (printed at the end).
set -euo pipefail
KIT=${KIT:?set KIT to the comparison kit directory}
N=${1:-10000}
REPS=${2:-2}
DUR=${3:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d /tmp/identity-capacity.XXXXXX)
cp -r "$KIT" "$WORK/kit"
# the kit's run-ours.sh expects MAIN/target/release
mkdir -p "$WORK/main"
ln -s "$TARGET" "$WORK/main/target"
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release --workspace --bins)
# the kit's own Rust tools (the driver and the hello-world limit), built into the shared target
# directory so later sittings reuse them
for tool in scimbench limits/hello-hyper; do
  dir="$TARGET/kit-$(basename "$tool")"
  (cd "$WORK/kit/$tool" && CARGO_TARGET_DIR="$dir" cargo build --release)
  ln -sfn "$dir" "$WORK/kit/$tool/target"
done
bash "$WORK/kit/peers/install.sh"
cd "$WORK/kit"
# the capacity of the stack, not the per-organization limits of the edge (one bench organization
# sends far more than the defaults allow, by design): the kit's run-ours.sh passes the
# environment on to the edge
export SCIM_EDGE_ORG_REQUESTS_PER_SECOND=0 SCIM_EDGE_TOKEN_REQUESTS_PER_SECOND=0 \
  SCIM_EDGE_ORG_MAX_CONCURRENT_REQUESTS=0 SCIM_EDGE_HEAVY_REQUEST_SLOTS=0
bash limits/run-limits.sh "$REPS" "$DUR"
MAIN=$WORK/main bash run-ours.sh pg "$N" "$REPS" "$DUR"
MAIN=$WORK/main bash run-ours.sh sqlite "$N" "$REPS" "$DUR"
bash run-peer.sh scim2-server "$N" "$REPS" "$DUR"
bash run-peer.sh scimmy "$N" "$REPS" "$DUR"
python3 summarize.py
echo "results in $WORK/kit/results"
