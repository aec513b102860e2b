/* Permission names and parsing; see perm.h. */
#include "perm.h"

#include "common/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/banned.h"

static const struct {
	uint32_t bit;
	const char *key;
	const char *name;
} perms[] = {
        {PERM_ACCOUNT_DASHBOARD_READ, "account.dashboard.read", "Account | Dashboard | Read"},
        {PERM_ACCOUNT_LOGS_READ, "account.logs.read", "Account | Logs | Read"},
        {PERM_DIR_INTERNAL_READ, "dir.internal.read", "Directories | Internal | Read"},
        {PERM_DIR_INTERNAL_REGISTER, "dir.internal.register",
         "Directories | Internal | Register New Domain"},
        {PERM_ACCOUNT_SETTINGS_EDIT, "account.settings.edit", "Account | Settings | Edit"},
        {PERM_HELD_SUMMARY_READ, "monitoring.held_summary.read",
         "Account | Monitoring | Held Summary | Read"},
        {PERM_HELD_EDIT, "monitoring.held.edit", "Account | Monitoring | Held | Edit"},
        {PERM_PROCESSING_READ, "monitoring.processing.read", "Monitoring | Processing | Read"},
        {PERM_TRACKING_READ, "gateway.tracking.read", "Gateway | Tracking | Read"},
        /* sender policies (§18) */
        {PERM_POLICIES_READ, "gateway.policies.read", "Gateway | Policies | Read"},
        {PERM_POLICIES_EDIT, "gateway.policies.edit", "Gateway | Policies | Edit"},
        {PERM_MANAGED_SENDERS_EDIT, "gateway.managed_senders.edit",
         "Gateway | Managed Senders | Edit"},
        /* directory (API.md §17) */
        {PERM_DIR_GROUPS_READ, "dir.groups.read", "Directories | Groups | Read"},
        {PERM_DIR_GROUPS_EDIT, "dir.groups.edit", "Directories | Groups | Edit"},
        {PERM_DIR_INTERNAL_EDIT, "dir.internal.edit", "Directories | Internal | Edit"},
        /* TTP and DLP logs (API.md §14.2) */
        {PERM_TTP_URL_READ, "monitoring.url_protection.read", "Monitoring | URL Protection | Read"},
        {PERM_TTP_ATTACHMENT_READ, "monitoring.attachment_protection.read",
         "Monitoring | Attachment Protection | Read"},
        {PERM_TTP_IMPERSONATION_READ, "monitoring.impersonation_protection.read",
         "Monitoring | Impersonation Protection | Read"},
        {PERM_DLP_READ, "monitoring.dlp.read", "Monitoring | Data Leak Prevention | Read"},
        {PERM_URL_PROTECT_READ, "gateway.url_protection.read",
         "Services | Gateway | URL Protection | Read"},
        {PERM_URL_PROTECT_EDIT, "gateway.url_protection.edit",
         "Services | Gateway | URL Protection | Edit"},
};

const char *perm_name(uint32_t bit)
{
	for (size_t i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		if (perms[i].bit == bit)
			return perms[i].name;
	return NULL;
}

const char *perm_key(uint32_t bit)
{
	for (size_t i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		if (perms[i].bit == bit)
			return perms[i].key;
	return NULL;
}

static int match_one(const char *s, size_t n, uint32_t *set)
{
	if (n == 5 && strncasecmp(s, "admin", 5) == 0) {
		*set |= PERM_ALL;
		return 0;
	}
	for (size_t i = 0; i < sizeof(perms) / sizeof(perms[0]); i++) {
		if ((strlen(perms[i].key) == n && strncasecmp(s, perms[i].key, n) == 0) ||
		    (strlen(perms[i].name) == n && strncasecmp(s, perms[i].name, n) == 0)) {
			*set |= perms[i].bit;
			return 0;
		}
	}
	return MC_ERR_INVALID;
}

int perm_parse(const char *list, uint32_t *out, struct err *e)
{
	uint32_t set = 0;
	const char *p = list ? list : "";

	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		while (n && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n && match_one(s, n, &set) != 0)
			return err_set(e, MC_ERR_INVALID, "unknown permission '%.*s'", (int)n, s);
		if (!end)
			break;
		p = end + 1;
	}
	*out = set;
	return 0;
}

void perm_format(uint32_t set, char *dst, size_t size)
{
	size_t used = 0;

	if (size)
		dst[0] = '\0';
	for (size_t i = 0; i < sizeof(perms) / sizeof(perms[0]); i++) {
		if (!(set & perms[i].bit))
			continue;
		int n = snprintf(dst + used, size - used, "%s%s", used ? "," : "", perms[i].key);
		if (n < 0 || (size_t)n >= size - used)
			return;
		used += (size_t)n;
	}
}

uint32_t perm_effective(uint32_t set)
{
	if ((set & PERM_V1_ALL) == PERM_V1_ALL)
		set |= PERM_ALL; /* the admin role as stores of version 1 recorded it */
	if (set & PERM_DIR_INTERNAL_REGISTER)
		set |= PERM_DIR_INTERNAL_READ;
	if (set & PERM_POLICIES_EDIT)
		set |= PERM_POLICIES_READ;
	if (set & PERM_DIR_INTERNAL_EDIT) /* directory: editing implies reading */
		set |= PERM_DIR_INTERNAL_READ;
	if (set & PERM_DIR_GROUPS_EDIT)
		set |= PERM_DIR_GROUPS_READ;
	if (set & PERM_URL_PROTECT_EDIT)
		set |= PERM_URL_PROTECT_READ;
	return set;
}
