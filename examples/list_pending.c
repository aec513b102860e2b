/* list_pending: prints the pending domain registrations of an account, one a line, using
 * only the installed libmcapi. The keys come from the mcapi profile in effect
 * ($MCAPI_PROFILE or "default" in ~/.config/mcapi/profiles) and MCAPI_* variables, as for
 * the mcapi command. Build against an installed mcapi:
 *
 *     cc -o list_pending list_pending.c $(pkg-config --cflags --libs mcapi)
 *
 * Exit status: 0 listed, 1 the call failed. */
#include <mcapi/mcapi.h>

#include <stdio.h>
#include <stdlib.h>

/* Called once per page: a page that is not a success stops the listing. */
static int print_page(const struct mcapi_response *r, void *arg)
{
	size_t *count = arg;

	if (mcapi_response_status(r) != 200 || mcapi_response_fail_count(r) > 0) {
		const char *code = mcapi_response_error_code(r);
		fprintf(stderr, "list_pending: HTTP %ld: %s\n", mcapi_response_status(r),
		        code ? code : "not the API's envelope");
		return 1;
	}
	for (size_t i = 0; i < mcapi_response_data_count(r); i++) {
		const char *domain = mcapi_response_data_string(r, i, "domain");
		if (domain) {
			printf("%s\n", domain);
			(*count)++;
		}
	}
	return 0;
}

int main(void)
{
	struct mcapi_config *cfg = NULL;
	struct mcapi_client *c = NULL;
	struct mcapi_options o;
	char *path = mcapi_config_default_path(), *msg = NULL;
	size_t count = 0;
	int rc = 1, err;

	if (mcapi_config_load(path, &cfg, &msg) != 0 ||
	    mcapi_config_resolve(cfg, NULL, &o, &msg) != 0 || !(c = mcapi_client_new(&o, &msg))) {
		fprintf(stderr, "list_pending: %s\n", msg ? msg : "cannot set up the client");
		goto out;
	}
	/* every page (API.md §8), retries as libmcapi does them */
	err = mcapi_paginate(c, "/api/domain/get-pending-domain", "{\"data\":[]}", 0, print_page,
	                     &count);
	if (err != 0) {
		if (err != MCAPI_E_STOPPED)
			fprintf(stderr, "list_pending: %s (%s)\n", mcapi_client_last_error(c),
			        mcapi_strerror(err));
		goto out;
	}
	fprintf(stderr, "list_pending: %zu pending domain(s)\n", count);
	rc = 0;
out:
	mcapi_client_free(c);
	mcapi_config_free(cfg);
	free(msg);
	free(path);
	return rc;
}
