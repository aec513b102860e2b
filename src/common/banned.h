/* Functions this code base does not use (git's banned.h): unbounded copies,
 * unchecked number parsing and non-reentrant tokenisers. Include it last in
 * every .c file, after the system headers; tests/lint_banned.sh checks the tree too. */
#ifndef MCAPI_COMMON_BANNED_H
#define MCAPI_COMMON_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef strtok
#define strtok(x, y) BANNED(strtok)

#endif
