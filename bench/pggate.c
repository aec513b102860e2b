/* The shared gate alone (issue 12, docs/postgres.md): T threads call store_shared_gate as
 * fast as they can for D seconds, each call with a fresh request id (so each one claims a
 * pair) on one of U users' buckets (limits high enough never to refuse), and it prints the
 * calls per second. No HTTP, no signing: what one node's gate costs on this database, with
 * the batcher (--batch > 1) or one statement per call (--batch 1). It also prints the CPU
 * time per call of this process and of the PostgreSQL backends that served it (read from
 * /proc, so the database must run on this machine): on a busy machine the rate follows the
 * load of others, the CPU per call much less. Run by bench/pggate.sh. */
#include "server/store/store.h"
#include "server/store/store_shared.h"

#include "common/date.h"
#include "common/err.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

struct worker {
	struct store *st;
	int id, users;
	int64_t until_ms;
	long calls, failed;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	unsigned char pair[STORE_PAIR_LEN] = {0};
	uint32_t n = 0;

	pair[0] = (unsigned char)w->id;
	pair[1] = (unsigned char)(w->id >> 8);
	while (mono_ms() < w->until_ms) {
		int64_t now = now_ms() / 1000;
		struct store_gate g;
		struct err e;
		uint64_t user = (uint64_t)((w->id + (int)n) % w->users) + 1;
		n++;
		memcpy(pair + 2, &n, sizeof(n));
		memcpy(pair + 8, &now, sizeof(now)); /* runs of one database never collide */
		if (store_shared_gate(w->st, pair, now + 60, now, 1, user << 8, 1000000000, 1, &g,
		                      &e) != 0 ||
		    !g.claimed)
			w->failed++;
		else
			w->calls++;
	}
	return NULL;
}

/* CPU seconds used so far by the client backends of the database at dsn but this one. */
static double server_cpu(const char *dsn)
{
	PGconn *db = PQconnectdb(dsn);
	PGresult *r = NULL;
	double ticks = 0;

	if (PQstatus(db) == CONNECTION_OK)
		r = PQexec(db,
		           "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
		           "AND pid <> pg_backend_pid()");
	for (int i = 0; r && PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++) {
		char path[64], line[1024];
		FILE *f;
		snprintf(path, sizeof(path), "/proc/%s/stat", PQgetvalue(r, i, 0));
		f = fopen(path, "r");
		if (f && fgets(line, sizeof(line), f)) {
			char *p = strrchr(line, ')'); /* fields after the command name */
			unsigned long long ut = 0, stt = 0;
			for (int field = 3; p && field <= 15; field++) {
				p = strchr(p + 1, ' ');
				if (p && field == 14)
					ut = strtoull(p + 1, NULL, 10);
				if (p && field == 15)
					stt = strtoull(p + 1, NULL, 10);
			}
			ticks += (double)(ut + stt);
		}
		if (f)
			fclose(f);
	}
	PQclear(r);
	PQfinish(db);
	return ticks / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
	       (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

static long arg(int argc, char **argv, const char *name, long def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return strtol(argv[i + 1], NULL, 10);
	return def;
}

int main(int argc, char **argv)
{
	static unsigned char key[STORE_KEY_LEN];
	const char *dsn = getenv("MCAPI_TEST_PG_DSN");
	int threads = (int)arg(argc, argv, "--threads", 16),
	    users = (int)arg(argc, argv, "--users", 1);
	long secs = arg(argc, argv, "--seconds", 5), calls = 0, failed = 0;
	struct store_config cfg = {0};
	struct store *st = NULL;
	struct worker w[256];
	pthread_t t[256];
	struct err e;
	int64_t t0, t1;
	double c0, s0, s1;

	if (!dsn || threads < 1 || threads > 256 || users < 1) {
		fprintf(stderr,
		        "usage: MCAPI_TEST_PG_DSN=... pggate [--threads T] [--seconds D] "
		        "[--users U] [--batch N] [--leaders L] [--lease K] [--wait-us W]\n");
		return 2;
	}
	memset(key, 7, sizeof(key));
	cfg.backend = "postgres";
	cfg.dsn = dsn;
	cfg.key = key;
	cfg.gate_batch = (int)arg(argc, argv, "--batch", 32);
	cfg.gate_leaders = (int)arg(argc, argv, "--leaders", 1);
	cfg.gate_lease = (int)arg(argc, argv, "--lease", 256);
	cfg.gate_wait_us = (int)arg(argc, argv, "--wait-us", 200);
	if (store_open(&cfg, &st, &e) != 0) {
		fprintf(stderr, "pggate: %s\n", e.msg);
		return 1;
	}
	s0 = server_cpu(dsn); /* the store's first connection; the workers' come later */
	c0 = self_cpu();
	t0 = mono_ms();
	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){
		        .st = st, .id = i, .users = users, .until_ms = t0 + secs * 1000};
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		calls += w[i].calls;
		failed += w[i].failed;
	}
	t1 = mono_ms();
	s1 = server_cpu(dsn);
	printf("batch=%d leaders=%d lease=%d wait_us=%d threads=%d users=%d calls=%ld failed=%ld "
	       "calls_per_s=%.0f "
	       "client_cpu_us_per_call=%.1f server_cpu_us_per_call=%.1f\n",
	       cfg.gate_batch, cfg.gate_leaders, cfg.gate_lease, cfg.gate_wait_us, threads, users,
	       calls, failed, (double)calls * 1000.0 / (double)(t1 - t0),
	       calls ? (self_cpu() - c0) * 1e6 / (double)calls : 0.0,
	       calls ? (s1 - s0) * 1e6 / (double)calls : 0.0);
	store_close(st);
	return failed ? 1 : 0;
}
