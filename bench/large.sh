#!/usr/bin/env bash
# Read workloads at a large population on PostgreSQL, measured like the comparison kit measures
# (server side pinned to CPU 0, the kit's scimbench driver on CPU 1, 32 requests in flight).
#
# usage: KIT=/path/to/comparison-kit bash bench/large.sh N [REPS=2] [DURATION=10]
#
# Filling a million users through SCIM would take most of an hour, so the population is written
# straight into the store with one INSERT … SELECT generate_series per table (as a restore from a
# dump would; the change feed does not list them) and takes about a minute at a million. The
# group of the W5 workloads (10,000 members) and everything measured go through SCIM. Run it at
# 10,000 and at 1,000,000 in one sitting and compare: W2, W3, W5g, W5p and W6 should not move.
# Prints one JSON line per run (the kit's format) and the idle memory of edge and core.
set -euo pipefail
KIT=${KIT:?set KIT to the comparison kit directory}
N=${1:?population}
REPS=${2:-2}
DUR=${3:-10}
GROUP=10000
SPARES=2000
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGPORT=25434
W=$(mktemp -d /tmp/identity-large.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -d "$W/pg" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg" -m fast stop >/dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT

cp -r "$KIT/scimbench" "$W/scimbench"
(cd "$W/scimbench" && cargo build --release -q)
DRIVER=$W/scimbench/target/release/scimbench

# a throwaway PostgreSQL whose postmaster and backends run on CPU 0, like the kit's
mkdir "$W/pg"
chown postgres "$W/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg" -A trust -U postgres >/dev/null
printf "listen_addresses='127.0.0.1'\nport=$PGPORT\nunix_socket_directories='$W/pg'\nmax_connections=100\nshared_buffers=1GB\n" >>"$W/pg/postgresql.conf"
taskset -c 0 runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg" -l "$W/pg/log" -w start >/dev/null
PSQL=(psql -h 127.0.0.1 -p $PGPORT -U postgres -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c 'CREATE DATABASE identity'
DB=postgres://postgres@127.0.0.1:$PGPORT/identity

ADMIN=largeadminlargeadmin1234
EDGECRED=largeedgelargeedge1234
env IDENTITY_DATABASE_URL="$DB" IDENTITY_ADMIN_TOKEN=$ADMIN IDENTITY_EDGE_CREDENTIAL=$EDGECRED \
  IDENTITY_LISTEN_ADDR=127.0.0.1:26051 IDENTITY_ADMIN_LISTEN_ADDR=127.0.0.1:26052 RUST_LOG=warn \
  taskset -c 0 "$BIN/identity-core" >"$W/core.log" 2>&1 &
CORE=$!
PIDS+=("$CORE")
export IDENTITY_ADMIN_ENDPOINT=http://127.0.0.1:26052 IDENTITY_ADMIN_CREDENTIAL=$ADMIN
for _ in $(seq 1 100); do "$BIN/identity-admin" org list >/dev/null 2>&1 && break; sleep 0.2; done
"$BIN/identity-admin" org create --slug large --name Large >/dev/null 2>&1
"$BIN/identity-admin" scim enable --org large >/dev/null
TOKEN=$("$BIN/identity-admin" token issue --org large --description large 2>/dev/null)
env SCIM_EDGE_LISTEN_ADDR=127.0.0.1:28004 SCIM_EDGE_CORE_ENDPOINT=http://127.0.0.1:26051 \
  SCIM_EDGE_CORE_CREDENTIAL=$EDGECRED RUST_LOG=warn taskset -c 0 "$BIN/scim-edge" >"$W/edge.log" 2>&1 &
EDGE=$!
PIDS+=("$EDGE")
URL=http://127.0.0.1:28004/scim/v2
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:28004/readyz" && break; sleep 0.2; done

RUN=$(date +%s)
ORG=$("${PSQL[@]}" -d identity -tA -c "SELECT id FROM organization WHERE slug = 'large'")
started=$(date +%s.%N)
# foreign-key triggers off for the load, as pg_restore --disable-triggers does: the rows are
# consistent by construction, and per-row checks against a table growing from empty are slow
FILL=$N
[ "$N" -lt $((GROUP + SPARES)) ] && FILL=$((N + SPARES))
"${PSQL[@]}" -d identity <<SQL
SET session_replication_role = replica;
INSERT INTO identity_user (id, org_id, user_name, user_name_lower, display_name, name_given_name,
                           name_family_name, active, managed_by, version, created_at, updated_at)
SELECT gen_random_uuid(), '$ORG', 'user' || i || '.$RUN', 'user' || i || '.$RUN', 'User ' || i,
       'User', i::text, true, 2, 1, $RUN::bigint * 1000000 + i, $RUN::bigint * 1000000 + i
FROM generate_series(0, $FILL - 1) AS i;
INSERT INTO user_email (org_id, user_id, position, value, value_lower, type, is_primary)
SELECT org_id, id, 0, user_name || '@example.com', user_name_lower || '@example.com', 'work', true
FROM identity_user WHERE org_id = '$ORG';
ANALYZE;
SQL
filled=$(date +%s.%N)
echo "[large N=$N] filled in $(echo "$filled - $started" | bc) s"

# the W5 group, through SCIM: the first GROUP users; the next SPARES are w5p's spare users
"${PSQL[@]}" -d identity -tA -F ' ' \
  -c "SELECT id, user_name FROM identity_user WHERE org_id = '$ORG' ORDER BY created_at" >"$W/users.txt"
GROUP_ID=$(curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/scim+json' \
  -d "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"large-$RUN\"}" \
  "$URL/Groups" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
python3 - "$W/users.txt" "$GROUP" "$SPARES" "$URL" "$RUN" "$N" "$GROUP_ID" "$W/state.json" "$W/chunks" <<'PY'
import json, os, sys
users, group, spares, url, run, n, group_id, state, chunks = sys.argv[1:]
rows = [line.split() for line in open(users) if line.strip()]
group, spares, n = int(group), int(spares), int(n)
# the population is the first n users; below group + spares, extra users are the spares (as
# the kit's setup does)
ids = [r[0] for r in rows]
names = [r[1] for r in rows]
members = ids[:group]
os.makedirs(chunks)
for i in range(0, len(members), 500):
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members",
                            "value": [{"value": m} for m in members[i:i + 500]]}]}
    json.dump(body, open(f"{chunks}/{i:08d}.json", "w"))
json.dump({"base_url": url, "run_id": run, "population": n, "user_ids": ids[:n],
           "user_names": names[:n], "spare_ids": ids[group:group + spares], "group_id": group_id,
           "group_size": len(members), "spare_next": 0}, open(state, "w"))
PY
for chunk in "$W"/chunks/*.json; do
  curl -sf -o /dev/null -X PATCH -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/scim+json' --data-binary "@$chunk" "$URL/Groups/$GROUP_ID"
done

rss() { awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$1/status"; }
PG=$(head -1 "$W/pg/postmaster.pid")
echo "{\"event\":\"filled\",\"population\":$N,\"edge_rss_mb\":$(rss "$EDGE"),\"core_rss_mb\":$(rss "$CORE")}"
for workload in ${WORKLOADS:-w2 w3 w5g w5p w6}; do
  for rep in $(seq 1 "$REPS"); do
    sleep 1
    taskset -c 1 "$DRIVER" -u "$URL" -t "$TOKEN" -w "$workload" -c 32 -d "$DUR" --warmup 2 \
      --state "$W/state.json" --server-pid "$EDGE,$CORE,$PG" --label "ours-pg-large N=$N rep=$rep" \
      2>>"$W/driver.err" | tail -1
  done
done
echo "{\"event\":\"end\",\"population\":$N,\"edge_rss_mb\":$(rss "$EDGE"),\"core_rss_mb\":$(rss "$CORE")}"
