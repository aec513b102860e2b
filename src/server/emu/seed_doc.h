/* Reading seed documents (docs/emulator.md, "Seed files"): a JSON file, a YAML file (turned
 * into the same jansson tree by seed_yaml.c), or a directory of such files merged in name
 * order. seed.c then checks and writes the one tree, whatever it came from. */
#ifndef MCAPI_SERVER_EMU_SEED_DOC_H
#define MCAPI_SERVER_EMU_SEED_DOC_H

#include <jansson.h>
#include <stddef.h>

struct err;

/* Most files a seed directory may hold, largest seed file, deepest nesting, most nodes. */
#define SEED_DOC_MAX_FILES 256
#define SEED_DOC_MAX_BYTES (16 << 20)
#define SEED_DOC_MAX_DEPTH 64
#define SEED_DOC_MAX_NODES 1000000

/* Loads the seed at path: a file (YAML when it ends .yaml or .yml, JSON when it ends .json,
 * otherwise JSON if its first non-blank character is '{', YAML if not), or a directory of
 * *.json, *.yaml and *.yml files (others ignored) merged in name order, each top-level
 * list appended to the same list of the files before it. *doc gets the tree (an object;
 * the caller decrefs it); dir (dir_size bytes) the directory the seed's relative file names
 * start from. 0, or MC_ERR_INVALID / MC_ERR_IO / MC_ERR_TOO_LARGE with e naming the file and,
 * for a syntax error, its line and column. */
int seed_doc_load(const char *path, json_t **doc, char *dir, size_t dir_size, struct err *e);

/* Turns one YAML document (text[0..len)) into a jansson tree: mappings are objects (keys
 * are scalars, each once), sequences arrays; a plain scalar that reads as null (~, null,
 * empty), true/false, a decimal, 0x or 0o integer, or a decimal float becomes that type,
 * every other scalar (and every quoted one, or one tagged !!str) a string (the YAML 1.2
 * core schema: yes/no/on/off stay strings). Aliases (*name) are refused; anchors are
 * ignored. name is used in messages. *out gets the tree (caller decrefs). 0, or
 * MC_ERR_INVALID with e saying where ("line L column C"). */
int seed_yaml_parse(const char *name, const char *text, size_t len, json_t **out, struct err *e);

#endif
