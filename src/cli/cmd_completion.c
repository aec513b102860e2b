/* mcapi completion: bash and zsh completion scripts built by walking the command table at
 * run time, so that a command added to the table completes without editing a script. The
 * scripts name the commands themselves; a command's subcommands and options come from the
 * command's own --help at completion time ('mcapi completion words|options COMMAND', which
 * runs that help in a child process and reads its usage lines), so they cannot go stale
 * either. 'commands' prints the table for the man page build (docs/man/). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/banned.h"

#define HELP_MAX  (64u << 10) /* a command's help text; more is ignored */
#define WORDS_MAX 64
#define WORD_MAX  48

static const char completion_usage[] =
        "usage: mcapi completion bash|zsh\n"
        "       mcapi completion commands | profiles | words COMMAND | options COMMAND\n"
        "\n"
        "   bash      print a bash completion script: eval \"$(mcapi completion bash)\", or\n"
        "             save it as /usr/share/bash-completion/completions/mcapi\n"
        "   zsh       print a zsh completion script: save it as _mcapi in a directory of $fpath\n"
        "   commands  the commands, one a line: NAME, a tab, its summary\n"
        "   profiles  the profile names of the profile file\n"
        "   words     the subcommands of COMMAND, from its usage lines\n"
        "   options   the options of COMMAND, from its help\n";

static const char global_options[] = "--profile --config --help --version";

/* The help text of c (its --help, run in a child so that nothing it does touches this
 * process), NUL-terminated in out[0..size). Returns its length, or -1. */
static long command_help(struct cli *cli, const struct cli_cmd *c, char *out, size_t size)
{
	int fds[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) != 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		char *argv[3] = {(char *)c->name, "--help", NULL};
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		c->fn(cli, 2, argv);
		fflush(stdout);
		fflush(stderr);
		_exit(0);
	}
	close(fds[1]);
	while (len + 1 < size && (n = read(fds[0], out + len, size - len - 1)) > 0)
		len += (size_t)n;
	close(fds[0]); /* a child still writing gets EPIPE and ends */
	while (waitpid(pid, &status, 0) < 0)
		;
	out[len] = '\0';
	return (long)len;
}

struct words {
	char w[WORDS_MAX][WORD_MAX];
	size_t n;
};

static void words_add(struct words *ws, const char *p, size_t len)
{
	if (len == 0 || len >= WORD_MAX || ws->n == WORDS_MAX)
		return;
	for (size_t i = 0; i < ws->n; i++)
		if (strlen(ws->w[i]) == len && memcmp(ws->w[i], p, len) == 0)
			return;
	memcpy(ws->w[ws->n], p, len);
	ws->w[ws->n++][len] = '\0';
}

static int is_word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/* The token at *p (up to a blank), advancing *p past it and the blanks after it. */
static size_t next_token(const char **p, const char **tok)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	*tok = s;
	while (s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != '\n')
		n++;
	*p = s + n;
	return n;
}

/* Subcommands: in each usage line 'mcapi [GLOBAL...] NAME WORD[|WORD...] ...', the
 * lower-case WORDs after the command's own name. */
static void find_subcommands(const char *help, const char *name, struct words *ws)
{
	size_t name_len = strlen(name);

	for (const char *line = help; *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
		const char *p = strstr(line, "mcapi "), *eol = strchr(line, '\n'), *tok;
		size_t n;
		int depth = 0;

		if (!p || (eol && p > eol))
			continue;
		p += 6;
		/* skip bracketed global options such as "[--profile NAME]" */
		for (;;) {
			n = next_token(&p, &tok);
			if (n == 0)
				break;
			if (tok[0] == '[')
				depth++;
			if (depth > 0) {
				if (tok[n - 1] == ']')
					depth--;
				continue;
			}
			break;
		}
		if (n != name_len || memcmp(tok, name, n) != 0)
			continue;
		n = next_token(&p, &tok);
		for (size_t i = 0; i < n; i++)
			if (!is_word_char(tok[i]) && tok[i] != '|')
				n = 0; /* NAME..., [--all], ... are not subcommands */
		if (n == 0 || !(tok[0] >= 'a' && tok[0] <= 'z'))
			continue;
		for (size_t i = 0, start = 0; i <= n; i++)
			if (i == n || tok[i] == '|') {
				words_add(ws, tok + start, i - start);
				start = i + 1;
			}
	}
}

/* Options: every --word of the help text, and --help. */
static void find_options(const char *help, struct words *ws)
{
	for (const char *p = help; (p = strstr(p, "--")) != NULL;) {
		size_t n = 2;
		if (p > help && (is_word_char(p[-1]) || p[-1] == '-')) {
			p += 2;
			continue;
		}
		while (is_word_char(p[n]))
			n++;
		if (n > 2 && p[2] >= 'a' && p[2] <= 'z')
			words_add(ws, p, n);
		p += n;
	}
	words_add(ws, "--help", 6);
}

static int print_words(struct cli *cli, const char *name, int options)
{
	const struct cli_cmd *c = cli_command_find(name);
	struct words *ws = NULL;
	char *help = NULL;
	int rc = CLI_FAIL;

	if (!c)
		return CLI_FAIL; /* silent: a completion script must not print errors */
	help = malloc(HELP_MAX);
	ws = calloc(1, sizeof(*ws));
	if (!help || !ws || command_help(cli, c, help, HELP_MAX) < 0)
		goto out;
	if (options)
		find_options(help, ws);
	else
		find_subcommands(help, c->name, ws);
	for (size_t i = 0; i < ws->n; i++)
		printf("%s\n", ws->w[i]);
	rc = CLI_OK;
out:
	free(help);
	free(ws);
	return rc;
}

static int print_profiles(struct cli *cli)
{
	struct mcapi_config *cfg = NULL;
	char *path = cli_config_path(cli);
	int rc = CLI_FAIL;

	if (path && mcapi_config_load(path, &cfg, NULL) == 0) {
		for (size_t i = 0; i < mcapi_config_count(cfg); i++)
			printf("%s\n", mcapi_config_name(cfg, i));
		rc = CLI_OK;
	}
	mcapi_config_free(cfg);
	free(path);
	return rc;
}

static void print_bash(void)
{
	size_t n;
	const struct cli_cmd *cmds = cli_commands(&n);

	fputs("# bash completion for mcapi (generated by 'mcapi completion bash'; do not edit)\n"
	      "_mcapi() {\n"
	      "\tlocal cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
	      "\tlocal self=\"${COMP_WORDS[0]}\" cmd=\"\" at=0 i\n"
	      "\tlocal cmds=\"",
	      stdout);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? " " : "", cmds[i].name);
	printf("\"\n"
	       "\tlocal -a conf=()\n"
	       "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	       "\t\tcase \"${COMP_WORDS[i]}\" in\n"
	       "\t\t--config) conf=(--config \"${COMP_WORDS[i+1]}\"); ((i++)) ;;\n"
	       "\t\t--profile | -p) ((i++)) ;;\n"
	       "\t\t-*) ;;\n"
	       "\t\t*) cmd=\"${COMP_WORDS[i]}\"; at=$i; break ;;\n"
	       "\t\tesac\n"
	       "\tdone\n"
	       "\tcase \"$prev\" in\n"
	       "\t--profile | -p)\n"
	       "\t\tCOMPREPLY=($(compgen -W \"$(\"$self\" \"${conf[@]}\" completion profiles "
	       "2>/dev/null)\" -- \"$cur\"))\n"
	       "\t\treturn ;;\n"
	       "\t--config | --dir)\n"
	       "\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
	       "\t\treturn ;;\n"
	       "\tesac\n"
	       "\tif [[ -z $cmd ]]; then\n"
	       "\t\tif [[ $cur == -* ]]; then\n"
	       "\t\t\tCOMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))\n"
	       "\t\telse\n"
	       "\t\t\tCOMPREPLY=($(compgen -W \"$cmds\" -- \"$cur\"))\n"
	       "\t\tfi\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tif [[ $cur == -* ]]; then\n"
	       "\t\tCOMPREPLY=($(compgen -W \"$(\"$self\" completion options \"$cmd\" "
	       "2>/dev/null)\" -- \"$cur\"))\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tif ((COMP_CWORD == at + 1)); then\n"
	       "\t\tlocal sub\n"
	       "\t\tif [[ $cmd == help ]]; then\n"
	       "\t\t\tsub=\"$cmds\"\n"
	       "\t\telse\n"
	       "\t\t\tsub=\"$(\"$self\" completion words \"$cmd\" 2>/dev/null)\"\n"
	       "\t\tfi\n"
	       "\t\tif [[ -n $sub ]]; then\n"
	       "\t\t\tCOMPREPLY=($(compgen -W \"$sub\" -- \"$cur\"))\n"
	       "\t\t\treturn\n"
	       "\t\tfi\n"
	       "\tfi\n"
	       "\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
	       "}\n"
	       "complete -F _mcapi mcapi\n",
	       global_options);
}

/* s for a zsh single-quoted word; in a _describe entry ':' ends the name, so it is escaped. */
static void put_zsh_quoted(const char *s, int is_name)
{
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else if (*s == ':' && is_name)
			fputs("\\:", stdout);
		else
			putchar(*s);
	}
}

static void print_zsh(void)
{
	size_t n;
	const struct cli_cmd *cmds = cli_commands(&n);

	fputs("#compdef mcapi\n"
	      "# zsh completion for mcapi (generated by 'mcapi completion zsh'; do not edit)\n"
	      "_mcapi() {\n"
	      "\tlocal -a cmds sub conf\n"
	      "\tlocal cmd= at=0 i self=${words[1]}\n"
	      "\tcmds=(\n",
	      stdout);
	for (size_t i = 0; i < n; i++) {
		fputs("\t\t'", stdout);
		put_zsh_quoted(cmds[i].name, 1);
		putchar(':');
		put_zsh_quoted(cmds[i].summary, 0);
		fputs("'\n", stdout);
	}
	printf("\t)\n"
	       "\tfor ((i = 2; i < CURRENT; i++)); do\n"
	       "\t\tcase ${words[i]} in\n"
	       "\t\t--config) conf=(--config ${words[i+1]}); ((i++)) ;;\n"
	       "\t\t--profile | -p) ((i++)) ;;\n"
	       "\t\t-*) ;;\n"
	       "\t\t*) cmd=${words[i]}; at=$i; break ;;\n"
	       "\t\tesac\n"
	       "\tdone\n"
	       "\tcase ${words[CURRENT-1]} in\n"
	       "\t--profile | -p)\n"
	       "\t\tcompadd -- ${(f)\"$($self $conf completion profiles 2>/dev/null)\"}\n"
	       "\t\treturn ;;\n"
	       "\t--config | --dir)\n"
	       "\t\t_files\n"
	       "\t\treturn ;;\n"
	       "\tesac\n"
	       "\tif [[ -z $cmd ]]; then\n"
	       "\t\tif [[ ${words[CURRENT]} == -* ]]; then\n"
	       "\t\t\tcompadd -- %s\n"
	       "\t\telse\n"
	       "\t\t\t_describe -t commands 'mcapi command' cmds\n"
	       "\t\tfi\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tif [[ ${words[CURRENT]} == -* ]]; then\n"
	       "\t\tcompadd -- ${(f)\"$($self completion options $cmd 2>/dev/null)\"}\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tif ((CURRENT == at + 1)); then\n"
	       "\t\tif [[ $cmd == help ]]; then\n"
	       "\t\t\t_describe -t commands 'mcapi command' cmds\n"
	       "\t\t\treturn\n"
	       "\t\tfi\n"
	       "\t\tsub=(${(f)\"$($self completion words $cmd 2>/dev/null)\"})\n"
	       "\t\tif (($#sub)); then\n"
	       "\t\t\tcompadd -- $sub\n"
	       "\t\t\treturn\n"
	       "\t\tfi\n"
	       "\tfi\n"
	       "\t_files\n"
	       "}\n"
	       "# run when autoloaded from $fpath; only define the function when sourced\n"
	       "if [[ ${funcstack[1]} == _mcapi ]]; then\n"
	       "\t_mcapi \"$@\"\n"
	       "else\n"
	       "\tcompdef _mcapi mcapi\n"
	       "fi\n",
	       global_options);
}

int cmd_completion(struct cli *cli, int argc, char **argv)
{
	size_t n;
	const struct cli_cmd *cmds;

	if (argc < 2 || cli_wants_help(argc, argv)) {
		fputs(completion_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (!strcmp(argv[1], "bash") && argc == 2)
		print_bash();
	else if (!strcmp(argv[1], "zsh") && argc == 2)
		print_zsh();
	else if (!strcmp(argv[1], "commands") && argc == 2) {
		cmds = cli_commands(&n);
		for (size_t i = 0; i < n; i++)
			printf("%s\t%s\n", cmds[i].name, cmds[i].summary);
	} else if (!strcmp(argv[1], "profiles") && argc == 2)
		return print_profiles(cli);
	else if ((!strcmp(argv[1], "words") || !strcmp(argv[1], "options")) && argc == 3)
		return print_words(cli, argv[2], argv[1][0] == 'o');
	else
		return cli_usage_error(completion_usage, "unknown form '%s'", argv[1]);
	return CLI_OK;
}
