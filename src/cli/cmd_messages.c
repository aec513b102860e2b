/* mcapi hold, mcapi messages and mcapi urls: the message endpoints of API.md §16 (hold queue,
 * tracking, message details, processing queue, queue counts) and the managed URLs and link
 * decoding of §16.3, each sub-command a row of a table (subcmd.h). Options are named after
 * the request fields they set (docs/messages.md, docs/urls.md). */
#include "subcmd.h"

#include "common/banned.h"

static const char hold_usage[] =
        "usage: mcapi hold list [--admin] [--start DATE] [--end DATE] [--search TEXT]\n"
        "                       [--search-by all|subject|sender|recipient|reason_code]\n"
        "                       [--route all|inbound|outbound|internal|external]\n"
        "                       [--held-group GROUP] [--all] [--page-size N]\n"
        "       mcapi hold summary\n"
        "       mcapi hold release ID...\n"
        "       mcapi hold reject ID... [--message TEXT] [--reason TYPE] [--notify]\n"
        "\n"
        "   list     held messages, newest first (--admin: the account's, not only yours)\n"
        "   summary  held messages counted by the policy that held them\n"
        "   release  deliver held messages\n"
        "   reject   reject held messages (--reason is one of the API's reasonType values)\n";

static const struct sub_cmd hold_subs[] = {
        {"list",
         "/api/gateway/get-hold-message-list",
         NULL,
         SUB_LIST,
         NULL,
         {{"--admin", "admin", SO_TRUE, NULL},
          {"--start", "start", SO_STR, NULL},
          {"--end", "end", SO_STR, NULL},
          {"--search", "searchBy.value", SO_STR, NULL},
          {"--search-by", "searchBy.fieldName", SO_STR, NULL},
          {"--route", "filterBy", SO_FILTER, "route"},
          {"--held-group", "filterBy", SO_FILTER, "heldGroup"}}},
        {"summary", "/api/gateway/get-hold-summary-list", NULL, SUB_NOITEM, NULL, {{0}}},
        {"release", "/api/gateway/hold-release", "id", SUB_EACH, NULL, {{0}}},
        {"reject",
         "/api/gateway/hold-reject",
         "ids",
         SUB_ARRAY,
         NULL,
         {{"--message", "message", SO_STR, NULL},
          {"--reason", "reasonType", SO_STR, NULL},
          {"--notify", "notify", SO_TRUE, NULL}}},
};

static const char messages_usage[] =
        "usage: mcapi messages search [--start DATE] [--end DATE] [--message-id ID]\n"
        "                             [--from ADDRESS|DOMAIN] [--to ADDRESS|DOMAIN]\n"
        "                             [--subject TEXT] [--sender-ip IP] [--route R]\n"
        "                             [--reason TEXT] [--all] [--page-size N]\n"
        "       mcapi messages info ID...\n"
        "       mcapi messages processing [--start DATE] [--end DATE] [--search TEXT]\n"
        "                             [--search-by FIELD] [--route R] [--sort-order asc|desc]\n"
        "                             [--all] [--page-size N]\n"
        "       mcapi messages queues --start DATE --end DATE\n"
        "\n"
        "   search      message tracking (message-finder/search), newest first\n"
        "   info        everything known of messages by their tracking id\n"
        "   processing  recipients still waiting for delivery\n"
        "   queues      inbound and outbound queue counts over a time range\n";

static const struct sub_cmd messages_subs[] = {
        {"search",
         "/api/message-finder/search",
         NULL,
         SUB_LIST,
         NULL,
         {{"--start", "start", SO_STR, NULL},
          {"--end", "end", SO_STR, NULL},
          {"--message-id", "messageId", SO_STR, NULL},
          {"--reason", "searchReason", SO_STR, NULL},
          {"--from", "advancedTrackAndTraceOptions.from", SO_STR, NULL},
          {"--to", "advancedTrackAndTraceOptions.to", SO_STR, NULL},
          {"--subject", "advancedTrackAndTraceOptions.subject", SO_STR, NULL},
          {"--sender-ip", "advancedTrackAndTraceOptions.senderIP", SO_STR, NULL},
          {"--route", "advancedTrackAndTraceOptions.route", SO_STR, NULL}}},
        {"info", "/api/message-finder/get-message-info", "id", SUB_EACH, NULL, {{0}}},
        {"processing",
         "/api/gateway/find-processing-messages",
         NULL,
         SUB_LIST,
         NULL,
         {{"--start", "start", SO_STR, NULL},
          {"--end", "end", SO_STR, NULL},
          {"--search", "searchBy.value", SO_STR, NULL},
          {"--search-by", "searchBy.fieldName", SO_STR, NULL},
          {"--route", "filterBy", SO_FILTER, "route"},
          {"--sort-order", "sortOrder", SO_STR, NULL}}},
        {"queues",
         "/api/email/get-email-queues",
         NULL,
         0,
         "--start",
         {{"--start", "start", SO_STR, NULL}, {"--end", "end", SO_STR, NULL}}},
};

static const char urls_usage[] =
        "usage: mcapi urls list [--search DOMAIN-OR-URL] [--exact] [--all] [--page-size N]\n"
        "       mcapi urls create URL --action block|permit [--match-type explicit|domain]\n"
        "                         [--comment TEXT] [--disable-user-awareness]\n"
        "                         [--disable-rewrite] [--disable-log-click]\n"
        "       mcapi urls delete ID...\n"
        "       mcapi urls decode URL...\n"
        "\n"
        "   list    managed URLs (block and permit entries)\n"
        "   create  block or permit a URL (or, with --match-type domain, its whole domain)\n"
        "   delete  remove managed URLs by id\n"
        "   decode  turn rewritten (protected) links back into the original URLs\n";

static const struct sub_cmd urls_subs[] = {
        {"list",
         "/api/ttp/url/get-all-managed-urls",
         NULL,
         SUB_LIST,
         NULL,
         {{"--search", "domainOrUrl", SO_STR, NULL}, {"--exact", "exactMatch", SO_TRUE, NULL}}},
        {"create",
         "/api/ttp/url/create-managed-url",
         "url",
         SUB_ONE,
         "--action",
         {{"--action", "action", SO_STR, NULL},
          {"--match-type", "matchType", SO_STR, NULL},
          {"--comment", "comment", SO_STR, NULL},
          {"--disable-user-awareness", "disableUserAwareness", SO_TRUE, NULL},
          {"--disable-rewrite", "disableRewrite", SO_TRUE, NULL},
          {"--disable-log-click", "disableLogClick", SO_TRUE, NULL}}},
        {"delete", "/api/ttp/url/delete-managed-url", "id", SUB_EACH, NULL, {{0}}},
        {"decode", "/api/ttp/url/decode-url", "url", SUB_EACH, NULL, {{0}}},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

int cmd_hold(struct cli *cli, int argc, char **argv)
{
	return sub_dispatch(cli, argc, argv, hold_usage, "hold", hold_subs, N(hold_subs));
}

int cmd_messages(struct cli *cli, int argc, char **argv)
{
	return sub_dispatch(cli, argc, argv, messages_usage, "messages", messages_subs,
	                    N(messages_subs));
}

int cmd_urls(struct cli *cli, int argc, char **argv)
{
	return sub_dispatch(cli, argc, argv, urls_usage, "urls", urls_subs, N(urls_subs));
}
