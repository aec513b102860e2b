#!/usr/bin/env bash
# Directory and policy scale benchmark (issue 9). Not a test: it prints figures next to their
# targets. On SQLite, in one run:
#
#  1. SMTP intake messages/s with 10 parallel smtplib sessions for BENCH_DURATION seconds, on a
#     store holding 100,000 users, 10,000 groups (5 members each) and 10,000 blocked-senders
#     policies against the same on an empty store (one verified domain)  (target >= 0.8x);
#     also the process stage's backlog at the end and the time it takes to catch up
#  2. find-groups, one page of 100, at page 1 and at the page reached by following `next` 50
#     times on the loaded store                                        (target: the same cost)
#
# The loaded store is filled with direct SQL inserts into the stopped server's database (the
# tables of schema/sqlite/007_directory.sql and 008_policies.sql). The driver is
# bench/directory.py. Environment: BENCH_DURATION (s, 10), BENCH_ROUNDS (2, alternating
# empty/loaded, best of), BENCH_SESSIONS (10), BENCH_USERS, BENCH_GROUPS, BENCH_POLICIES,
# BENCH_GROUP_POLICY_EVERY (100: one policy in 100 names a group; 0 none), BENCH_PAGE_SIZE (100),
# BENCH_PAGE_DEPTH (50), BENCH_DRAIN (60 s),
# BENCH_BUILD (build dir, build-bench), BENCH_NO_BUILD=1, MCAPID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
PY=${PYTHON:-/usr/bin/python3}

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v cmake >/dev/null || die "'cmake' is not installed"

bench_init mcapi-bench-directory
build_mcapid
say "-- mcapid: $MCAPID"
# the driver starts and stops its own mcapid processes and kills any left on exit
MCAPID=$MCAPID WORK=$WORK "$PY" "$BENCH/directory.py"
