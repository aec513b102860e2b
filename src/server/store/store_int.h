/* Internals shared by the public store layer (store.c) and the backends: the ops table each
 * backend fills, the base struct each backend embeds as its first member, and the backend
 * constructors. store.c does what every backend would do alike (generated identifiers,
 * lower-cased e-mails, creation times, argument checks) and then calls through the table,
 * so a backend only persists. Not for use outside src/server/store/.
 *
 * Contract for backends beyond store.h: a create that fails with MC_ERR_EXISTS leaves the
 * calling thread's transaction usable (store.c retries with fresh identifiers; SQLite
 * undoes only the failed statement, PostgreSQL would need a SAVEPOINT); secrets are sealed
 * with keyfile.h's seal() under st->key with the additional data named in store.c. */
#ifndef MCAPI_SERVER_STORE_STORE_INT_H
#define MCAPI_SERVER_STORE_STORE_INT_H

#include "server/store/store.h"

/* Additional data that binds a sealed secret to its row: the prefix plus the row's key. */
#define STORE_AD_APP       "app:"     /* + app_id: applications.app_key */
#define STORE_AD_BINDING   "binding:" /* + access_key: bindings.secret */
#define STORE_AD_KEY_CHECK "store-key-check"

struct store_ops {
	const char *name;
	void (*close)(struct store *st);
	int (*ping)(struct store *st);
	int (*schema_version)(struct store *st);
	int (*tx_begin)(struct store *st, struct err *e);
	int (*tx_commit)(struct store *st, struct err *e);
	void (*tx_rollback)(struct store *st);

	int (*account_create)(struct store *st, struct account *a, struct err *e);
	int (*account_get)(struct store *st, int64_t id, struct account *out, struct err *e);
	int (*account_get_by_code)(struct store *st, const char *code, struct account *out,
	                           struct err *e);
	int (*account_list)(struct store *st, int (*fn)(void *arg, const struct account *a),
	                    void *arg, struct err *e);
	int (*account_user_count)(struct store *st, int64_t account_id, int64_t *count,
	                          struct err *e);
	int (*account_update)(struct store *st, const struct account *a, struct err *e);

	int (*app_create)(struct store *st, struct application *app, struct err *e);
	int (*app_get)(struct store *st, const char *app_id, struct application *out,
	               struct err *e);
	int (*app_get_by_id)(struct store *st, int64_t id, struct application *out, struct err *e);
	int (*app_list)(struct store *st, int64_t account_id,
	                int (*fn)(void *arg, const struct application *a), void *arg,
	                struct err *e);
	int (*app_revoke)(struct store *st, const char *app_id, int64_t now, struct err *e);

	/* name_key: the key of u->name (namekey.h), "" when it has none */
	int (*user_create)(struct store *st, struct user *u, const char *name_key, struct err *e);
	int (*user_get)(struct store *st, int64_t id, struct user *out, struct err *e);
	int (*user_get_by_email)(struct store *st, const char *email, struct user *out,
	                         struct err *e);
	int (*user_list)(struct store *st, int64_t account_id,
	                 int (*fn)(void *arg, const struct user *u), void *arg, struct err *e);
	int (*user_update)(struct store *st, const struct user *u, const char *name_key,
	                   struct err *e);
	/* the users of account_id whose name_key is key, and those whose key is NULL */
	int (*user_by_name_key)(struct store *st, int64_t account_id, const char *key,
	                        int (*fn)(void *arg, const struct user *u), void *arg,
	                        struct err *e);
	/* up to limit users with a NULL name_key after id after_id, in id order */
	int (*user_keyless)(struct store *st, int64_t after_id, size_t limit,
	                    int (*fn)(void *arg, const struct user *u), void *arg, struct err *e);
	/* sets the name_key of user id if it is still NULL and the name still name */
	int (*user_key_set)(struct store *st, int64_t id, const char *name, const char *key,
	                    struct err *e);

	int (*binding_create)(struct store *st, struct binding *b, struct err *e);
	int (*binding_get)(struct store *st, const char *access_key, struct binding *out,
	                   struct err *e);
	int (*binding_set_expiry)(struct store *st, int64_t id, int64_t expires, struct err *e);
	int (*binding_revoke)(struct store *st, int64_t id, int64_t now, struct err *e);
	int (*binding_list)(struct store *st, int64_t user_id,
	                    int (*fn)(void *arg, const struct binding *b), void *arg,
	                    struct err *e);
	int (*binding_count)(struct store *st, int64_t user_id, int64_t *count, struct err *e);

	int (*audit_add)(struct store *st, const struct audit_event *ev, struct err *e);

	const struct store_domain_ops *domain;       /* store_domain_int.h */
	const struct store_login_ops *login;         /* store_login_int.h */
	const struct store_mail_ops *mail;           /* store_mail_int.h */
	const struct store_policy_ops *policy;       /* store_policy_int.h (sender policies) */
	const struct store_siem_ops *siem;           /* store_siem_int.h (SIEM log reads) */
	const struct store_directory_ops *directory; /* store_directory_int.h */
	const struct store_ttp_ops *ttp;             /* store_ttp_int.h (TTP/DLP logs) */
	const struct store_urls_ops *urls;           /* store_urls_int.h (URL protection) */
	const struct store_shared_ops *shared;       /* store_shared.c; NULL: one process */
	const struct store_snapshot_ops *snapshot;   /* store_snapshot_int.h */
};

/* A schema migration: the arrays generated by cmake/embed_sql.cmake from
 * schema/<backend>/NNN_name.sql, in file-name order, ended by {0, NULL, NULL}. */
struct schema_migration {
	int version;
	const char *name;
	const char *sql;
};

/* 0 and the newest version in *latest if the versions of list strictly increase, else
 * MC_ERR_INTERNAL naming the file out of order. */
int store_migrations_check(const struct schema_migration *list, int *latest, struct err *e);

struct mail_intake;

/* The base of every backend's store. */
struct store {
	const struct store_ops *ops;
	unsigned char key[STORE_KEY_LEN];
	struct mail_intake *intake; /* group commit of accepts (store_mail_int.h); store.c's */
};

/* Backend constructors: cfg is checked by store_open (key present). They set
 * (*out)->ops and copy the key; store_open wipes nothing of theirs. */
int sqlite_store_open(const struct store_config *cfg, struct store **out, struct err *e);

#endif
