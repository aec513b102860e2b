/* What the Domain API handlers (domain.c, domain_verify.c) share: reading one request item
 * (its domain, inboundType or id) with the validation codes of API.md §3.2, the JSON shapes
 * of domain records, per-item failures, the purge horizon and audit rows. */
#ifndef MCAPI_SERVER_API_DOMAIN_ITEM_H
#define MCAPI_SERVER_API_DOMAIN_ITEM_H

#include "server/api/domain_id.h"
#include "server/api/domain_name.h"
#include "server/response.h"
#include "server/request.h"
#include "server/store/store_domain.h"

#include <jansson.h>
#include <stdint.h>

#define DOMAIN_MAX_ITEMS 50

/* §3.2 codes used here. */
#define E_NULL           "err_validation_null"
#define E_BLANK          "err_validation_blank"
#define E_INVALID_VALUE  "err_validation_invalid_value"
#define E_INVALID_DOMAIN "err_validation_invalid_domain"
#define E_TOO_MANY       "err_validation_too_many_items"
#define E_ALREADY        "err_domain_already_registered"
#define E_PARENT         "err_domain_parent_managed_elsewhere"
#define E_NOT_FOUND      "err_domain_not_found"
#define E_NOT_PENDING    "err_domain_not_pending"
#define E_EXPIRED        "err_domain_verification_expired"
#define E_TXT            "err_domain_txt_record_not_found"
#define E_DNS            "err_domain_dns_lookup_failed"

enum domain_inbound_rule { INBOUND_IGNORED, INBOUND_OPTIONAL, INBOUND_REQUIRED };

/* One request item, read. */
struct domain_arg {
	json_t *key;                       /* the item as received, after normalisation (owned) */
	char name[DOMAIN_NAME_MAX + 1];    /* the normalised domain ("" when invalid or by id) */
	char id[DOMAIN_ID_SIZE];           /* delete-pending-domain by id */
	char inbound[DOMAIN_INBOUND_SIZE]; /* lower-case inboundType, "" when absent */
	const char *code;                  /* the first validation failure, or NULL */
	const char *field;
	char msg[160];
};

/* Checks the number of items of data: min..DOMAIN_MAX_ITEMS. Returns 0 when fine, or 1
 * after adding the one call-wide fail entry (no key): err_validation_too_many_items past 50,
 * err_validation_null on field "data" under min; the handler then does nothing else. */
int domain_items_check(struct request *req, struct response *res, size_t min);

/* Reads item (an object): "domain" (required, normalised), and inboundType as rule says.
 * With by_id, an item may give "id" instead of "domain". Never fails as a call: problems
 * are left in a->code/field/msg. Release a with domain_arg_release. */
void domain_arg_read(json_t *item, enum domain_inbound_rule rule, int by_id, struct domain_arg *a);
void domain_arg_release(struct domain_arg *a);

/* 1 if the TXT record rec[0..len), with surrounding whitespace ignored, is exactly token
 * (domain_verify.c; exposed for the DNS fuzz target). */
int domain_txt_matches(const char *rec, size_t len, const char *token);

/* Adds a->key's validation failure to res. */
void domain_arg_fail(struct response *res, const struct domain_arg *a);

/* Adds a fail entry for key with code on field; the retryable flag follows the code (true
 * for err_domain_txt_record_not_found and err_domain_dns_lookup_failed). */
void domain_fail(struct response *res, json_t *key, const char *code, const char *field,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* JSON shapes (new references, NULL when out of memory); req gives the id key. */
/* A record of get-pending-domain / get-internal-domain written as compact JSON into b (the
 * fast path of long lists; same fields and order as the JSON builders). 0 or a buf error. */
struct buf;
int domain_write_pending(struct buf *b, const struct request *req, const struct domain *d);
int domain_write_internal(struct buf *b, const struct request *req, const struct domain *d);
json_t *domain_json_internal(const struct request *req, const struct domain *d);
json_t *domain_json_created(const struct request *req, const struct domain *d);
json_t *domain_json_status(const struct request *req, const struct domain *d, int64_t now);

/* The opaque id of d for this server. */
void domain_id_of(const struct request *req, const struct domain *d, char out[DOMAIN_ID_SIZE]);

/* Pending records whose expiry is before this time are purged (hidden from every call). */
int64_t domain_hide_before(const struct request *req, int64_t now);

/* 1 if d is a pending record past the purge horizon. */
int domain_is_purged(const struct domain *d, int64_t hide_before);

/* Adds an audit row (category account_logs, user = the caller) in the calling thread's
 * transaction. Returns 0 or a store error. */
struct err;
int domain_audit(struct request *req, int64_t now, struct err *e, const char *type, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

/* Audit types. */
#define AUDIT_CREATED       "Domain Created"
#define AUDIT_VERIFIED      "Domain Verified"
#define AUDIT_VERIFY_FAILED "Domain Verification Failed"
#define AUDIT_DELETED       "Pending Domain Deleted"
#define AUDIT_CATEGORY      "account_logs"

#endif
