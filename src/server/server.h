/* The server context: everything a request needs that lives as long as the process.
 * Built by main.c before the HTTP front starts and read-only afterwards (the objects it
 * points to are thread-safe themselves) — except when the store cannot be opened at
 * start-up: the front then starts first, and main.c's starter thread sets the store and
 * the mail side's workers before it sets ready, which publishes them (release/acquire). */
#ifndef MCAPI_SERVER_SERVER_H
#define MCAPI_SERVER_SERVER_H

#include "server/region.h"

#include <stdatomic.h>
#include <stdint.h>

struct config;
struct store;
struct dns;
struct replay;
struct ratelimit;
struct iplimit;
struct authcache;
struct listcache;
struct store_listener;
struct mail;
struct delivery;
struct clicks;
struct emu;
struct hashpool;

struct server {
	const struct config *cfg;
	struct store *store;
	struct dns *dns;              /* TXT lookups for verify-domain; may be NULL in unit tests */
	struct replay *replay;        /* accepted (access key, request id) pairs */
	struct ratelimit *rl;         /* per-user buckets */
	struct iplimit *ipl;          /* per-client-IP limit of unauthenticated and failed calls */
	struct authcache *authcache;  /* applications and bindings read by auth; NULL = off */
	struct listcache *listcache;  /* answers of list calls; NULL = off */
	unsigned char page_key[32];   /* MAC key of page tokens, derived from the server key */
	unsigned char id_key[32];     /* key for opaque ids, derived from the server key */
	unsigned char url_key[32];    /* key of TTP URL click tokens, derived likewise */
	unsigned char siem_key[32];   /* key of SIEM log tokens (mc-siem-token), likewise */
	unsigned char replay_key[32]; /* key of the replay cache's pair hashes, derived likewise:
	                               * the same across restarts and nodes (the journal) */
	int64_t started_ms;           /* wall clock when serve started: older x-mc-dates are
	                               * refused (auth.c), so no call is replayed across a restart */
	int64_t default_ttl_ms;       /* parsed cfg->binding_ttl */
	struct region_table regions;  /* parsed cfg->regions + this server's region (§10) */
	struct mail *mail;            /* the mail pipeline's process worker, or NULL */
	struct delivery *delivery;    /* delivery workers, or NULL */
	int api_fd;                   /* the API listener when bound before the front (--listen
	                               * HOST:0: main.c binds it first, so the configuration, the
	                               * region table and links name the real port); 0 = none */
	unsigned api_port;            /* ... and its port */
	struct clicks *clicks;        /* the TTP click logger (ttp/clicks.h), or NULL */
	struct emu *emu;              /* the control plane /__mcapi/ (emu/emu.h), or NULL = off */
	unsigned char control_key[32];   /* what the control token encodes, derived likewise */
	struct store_listener *listener; /* cache invalidation of a shared store (nodes.h) */
	atomic_int ready;                /* 1: the store is open and the fields above are set; until
	                                  * then API calls and clicks get 503, /readyz 503 */
	struct hashpool *hashpool;       /* Argon2id threads (auth/hashpool.h); NULL = hash on the
	                                  * calling thread (unit tests) */
};

#endif
