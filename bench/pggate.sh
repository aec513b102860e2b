#!/usr/bin/env bash
# The shared gate alone on PostgreSQL (issue 12; docs/postgres.md "Batched gates"): calls per
# second of store_shared_gate from BENCH_GATE_THREADS threads (16, as pgnode.sh's mcapid),
# one statement per call (--batch 1, as before the batcher) against the batcher (the
# defaults), for one user (every call on one bucket row, as pgnode.sh) and for 64 users.
# No HTTP and no nginx: it isolates what bench/pgnode.sh's signed calls wait for.
#
# PostgreSQL: BENCH_PG_DSN, else a throw-away PostgreSQL 15 (tests/e2e/pgserver.py).
# Environment: BENCH_DURATION (s, 5), BENCH_GATE_THREADS (16), BENCH_BUILD (build dir,
# build-bench), BENCH_NO_BUILD=1 (use $BENCH_BUILD/bench_pggate as it is), PGGATE (a binary).
#
#   bench/pggate.sh                       # about 25 s
#   BENCH_DURATION=2 bench/pggate.sh      # a quick look
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-5}
THREADS=${BENCH_GATE_THREADS:-16}
PY=${PYTHON:-/usr/bin/python3}

if [ -z "${BENCH_PG_DSN:-}" ] && [ -z "${MCAPI_TEST_PG_DSN:-}" ]; then
	exec "$PY" "$ROOT/tests/e2e/pgserver.py" --run bash "${BASH_SOURCE[0]}"
fi
export MCAPI_TEST_PG_DSN=${BENCH_PG_DSN:-$MCAPI_TEST_PG_DSN}

if [ -n "${PGGATE:-}" ]; then
	BIN=$PGGATE
elif [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
	BIN=$BUILD/bench_pggate
else
	echo "-- building bench_pggate (Release) in $BUILD"
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMCAPI_WERROR=OFF >/dev/null
	cmake --build "$BUILD" -j"$(nproc)" --target bench_pggate >/dev/null
	BIN=$BUILD/bench_pggate
fi
[ -x "$BIN" ] || { echo "no $BIN" >&2; exit 1; }

echo "== shared gate alone: $THREADS threads, ${DURATION}s each, $(nproc) cores"
for users in 1 64; do
	for batch in 1 32; do
		"$BIN" --threads "$THREADS" --seconds "$DURATION" --users "$users" --batch "$batch"
	done
done
