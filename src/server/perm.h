/* Permissions of the Mimecast administrator model ("Area | Section | Level") as a
 * bit set. Endpoints declare the bit they need; users carry a set. Implications
 * (Register New Domain implies Internal Read) are applied by perm_effective(), and so is
 * the admin role of stores written before the gateway's permissions existed: a set holding
 * all of PERM_V1_ALL is what "admin" meant then, and it gets every permission since. Names
 * are those of the public documentation of each endpoint, as written there (some start
 * with "Account |", some do not). */
#ifndef MCAPI_SERVER_PERM_H
#define MCAPI_SERVER_PERM_H

#include <stddef.h>
#include <stdint.h>

enum perm {
	PERM_NONE = 0,
	PERM_ACCOUNT_DASHBOARD_READ = 1u << 0, /* Account | Dashboard | Read */
	PERM_ACCOUNT_LOGS_READ = 1u << 1,      /* Account | Logs | Read */
	PERM_DIR_INTERNAL_READ = 1u << 2,      /* Directories | Internal | Read */
	PERM_DIR_INTERNAL_REGISTER = 1u << 3,  /* Directories | Internal | Register New Domain */
	PERM_ACCOUNT_SETTINGS_EDIT = 1u << 4,  /* Account | Settings | Edit */
	PERM_HELD_SUMMARY_READ = 1u << 5,      /* Account | Monitoring | Held Summary | Read */
	PERM_HELD_EDIT = 1u << 6,              /* Account | Monitoring | Held | Edit */
	PERM_PROCESSING_READ = 1u << 7,        /* Monitoring | Processing | Read */
	PERM_TRACKING_READ = 1u << 8,          /* Gateway | Tracking | Read */
	PERM_V1_ALL = (1u << 5) - 1,           /* "admin" before the gateway (stored sets) */
	/* sender policies (§18): high bits, clear of the other areas' */
	PERM_POLICIES_READ = 1u << 20,        /* Gateway | Policies | Read */
	PERM_POLICIES_EDIT = 1u << 21,        /* Gateway | Policies | Edit */
	PERM_MANAGED_SENDERS_EDIT = 1u << 22, /* Gateway | Managed Senders | Edit */
	PERM_POLICY_ALL = (1u << 20) | (1u << 21) | (1u << 22),
	/* directory (API.md §17): bits 16-19 */
	PERM_DIR_GROUPS_READ = 1u << 16,   /* Directories | Groups | Read */
	PERM_DIR_GROUPS_EDIT = 1u << 17,   /* Directories | Groups | Edit */
	PERM_DIR_INTERNAL_EDIT = 1u << 18, /* Directories | Internal | Edit (users) */
	PERM_DIR_BLOCK = PERM_DIR_GROUPS_READ | PERM_DIR_GROUPS_EDIT | PERM_DIR_INTERNAL_EDIT,
	/* TTP and DLP logs (API.md §14.2): bits 24-27 */
	PERM_TTP_URL_READ = 1u << 24,           /* Monitoring | URL Protection | Read */
	PERM_TTP_ATTACHMENT_READ = 1u << 25,    /* Monitoring | Attachment Protection | Read */
	PERM_TTP_IMPERSONATION_READ = 1u << 26, /* Monitoring | Impersonation Protection | Read */
	PERM_DLP_READ = 1u << 27,               /* Monitoring | Data Leak Prevention | Read */
	PERM_TTP_LOGS_ALL = (1u << 24) | (1u << 25) | (1u << 26) | (1u << 27),
	/* TTP URL protection (§16.3): bits 28-29 */
	PERM_URL_PROTECT_READ = 1u << 28, /* Services | Gateway | URL Protection | Read */
	PERM_URL_PROTECT_EDIT = 1u << 29, /* Services | Gateway | URL Protection | Edit */
	PERM_URL_PROTECT = PERM_URL_PROTECT_READ | PERM_URL_PROTECT_EDIT,
	PERM_ALL = ((1u << 9) - 1) | PERM_DIR_BLOCK | PERM_POLICY_ALL | PERM_TTP_LOGS_ALL |
	           PERM_URL_PROTECT,
};

/* The display name of one permission bit ("Directories | Internal | Read"), or NULL. */
const char *perm_name(uint32_t bit);

/* The short name of one bit used in config and admin commands ("dir.internal.read"), or NULL. */
const char *perm_key(uint32_t bit);

/* Parses a comma-separated list of short names or display names, or the role "admin"
 * (all permissions), into *out. Returns 0 or MC_ERR_INVALID (unknown name in e). */
struct err;
int perm_parse(const char *list, uint32_t *out, struct err *e);

/* Formats a set as a comma-separated list of short names into dst (always terminated). */
void perm_format(uint32_t set, char *dst, size_t size);

/* The set with implied permissions added. */
uint32_t perm_effective(uint32_t set);

#endif
