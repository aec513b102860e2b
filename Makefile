# Entry points for people: `make run` and `make test` (see README.md). CMake does the build.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)
PYTHON     ?= /usr/bin/python3
FUZZ_SECONDS ?= 60
# e2e tests run in parallel (pytest-xdist), a whole file per worker: each file starts its own
# servers on ports of its worker's own range (tests/e2e/ports.py). TEST_JOBS=0 runs them in one process.
TEST_JOBS  ?= $(JOBS)
PYTEST     := $(PYTHON) -m pytest -q -p no:cacheprovider $(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile)
# The e2e suite with environment $(1) and marker expression $(2) (" and not nosan"): the files
# marked serial (latency and memory bounds of the hostile-client suite, the kill -9 soak) run
# alone after the others, so no parallel test's load is measured into their bounds.
e2e_run = $(1) $(PYTEST) -m "not serial$(2)" tests/e2e && \
	{ $(1) $(PYTHON) -m pytest -q -p no:cacheprovider -m "serial$(2)" tests/e2e || test $$? = 5; }
PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all deps node-deps build run install test unit e2e pg asan tsan fuzz-smoke fuzz bench clean format

all: build

deps:
	@./scripts/install-deps.sh

# The pinned npm packages of tests/node (real Node.js clients for tests/e2e/test_node_clients.py):
# npm ci when node_modules is missing or older than the lock file.
NODE_STAMP := tests/node/node_modules/.package-lock.json
node-deps: $(NODE_STAMP)
$(NODE_STAMP): tests/node/package-lock.json tests/node/package.json | deps
	@npm ci --prefix tests/node --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMCAPI_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	./$(BUILD)/mcapid serve --dev

# Installs under $(DESTDIR)$(PREFIX) (see README.md, "Installing"): the prefix is given to CMake
# at configure time and again to cmake --install, DESTDIR passes through as CMake expects it.
install: build
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target all install-extras
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

unit: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

e2e: build node-deps
	$(call e2e_run,MCAPID=$(CURDIR)/$(BUILD)/mcapid MCAPI_CLI=$(CURDIR)/$(BUILD)/mcapi,)

# The PostgreSQL backend: its unit test and the whole e2e suite on a throw-away PostgreSQL 15
# (tests/e2e/pgserver.py starts and stops it; see docs/postgres.md).
pg: build node-deps
	cd $(BUILD) && ctest --output-on-failure -R 'unit\.test_store_pg$$'
	$(call e2e_run,MCAPI_E2E_STORE=postgres MCAPID=$(CURDIR)/$(BUILD)/mcapid MCAPI_CLI=$(CURDIR)/$(BUILD)/mcapi,)

asan: deps node-deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMCAPI_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j$(JOBS)
	$(call e2e_run,ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 MCAPI_E2E_SLOW=1 \
		MCAPID=$(CURDIR)/$(ASAN_BUILD)/mcapid MCAPI_CLI=$(CURDIR)/$(ASAN_BUILD)/mcapi, and not nosan)

# The same tests under ThreadSanitizer: the server is multi-threaded (workers, resolver).
tsan: deps node-deps
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMCAPI_TSAN=ON >/dev/null
	@cmake --build $(TSAN_BUILD) -j$(JOBS)
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j$(JOBS)
	$(call e2e_run,TSAN_OPTIONS=halt_on_error=0 MCAPI_E2E_SLOW=1 \
		MCAPID=$(CURDIR)/$(TSAN_BUILD)/mcapid MCAPI_CLI=$(CURDIR)/$(TSAN_BUILD)/mcapi, and not nosan)

# Builds the libFuzzer targets with clang and runs each briefly from the committed corpus
# (fuzz_front drives a real server over sockets, some 30-60 runs a second: fewer runs).
fuzz-smoke: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DMCAPI_FUZZ=ON -DMCAPI_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_targets
	@for f in $(FUZZ_BUILD)/fuzz_*; do \
		c=tests/fuzz/corpus/$$(basename $$f | sed 's/^fuzz_//'); w=$$(mktemp -d); \
		n=20000; case $$f in *fuzz_front) n=500;; esac; \
		$$f -runs=$$n -max_len=4096 $$w $$c >/dev/null 2>$$w.log || { tail -30 $$w.log; exit 1; }; \
		echo "$$(basename $$f): $$n runs, no crash"; rm -rf $$w $$w.log; done

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DMCAPI_FUZZ=ON -DMCAPI_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_targets
	@for f in $(FUZZ_BUILD)/fuzz_*; do \
		c=tests/fuzz/corpus/$$(basename $$f | sed 's/^fuzz_//'); w=$$(mktemp -d); \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 $$w $$c; done

test: build node-deps
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	$(call e2e_run,MCAPID=$(CURDIR)/$(BUILD)/mcapid MCAPI_CLI=$(CURDIR)/$(BUILD)/mcapi,)
	$(MAKE) --no-print-directory pg
	$(MAKE) --no-print-directory asan
	$(MAKE) --no-print-directory tsan
	$(MAKE) --no-print-directory fuzz-smoke

# Plain HTTP (throughput, latency, idle memory), then HTTPS; each against nginx in the same run.
bench: build
	./bench/run.sh
	./bench/tls.sh
	./bench/smtp.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
