#!/usr/bin/env bash
# Reset and snapshot timings of the emulator's control plane (issue 14). Not a test: it prints
# figures. On SQLite: a store of BENCH_USERS users (1,000), BENCH_DOMAINS pending domains
# (1,000) and BENCH_AUDIT audit events (10,000) in the development account is the start-up
# state; then POST /__mcapi/reset BENCH_RESETS times (20, each after one create-domain), and
# GET and PUT /__mcapi/snapshot once each. The driver is bench/emu_reset.py. Environment:
# those knobs, BENCH_BUILD (build dir, build-bench), BENCH_NO_BUILD=1, MCAPID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
PY=${PYTHON:-/usr/bin/python3}

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v cmake >/dev/null || die "'cmake' is not installed"

bench_init mcapi-bench-emu-reset
build_mcapid
say "-- mcapid: $MCAPID"
# what is measured here is the control plane itself (lib.sh turns it off for the others)
MCAPID_CONTROL=on MCAPID=$MCAPID WORK=$WORK "$PY" "$BENCH/emu_reset.py"
