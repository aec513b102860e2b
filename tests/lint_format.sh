#!/bin/sh
# Fails if a C file of the project does not follow .clang-format (`make format` fixes it).
top=${1:-.}
cd "$top" || exit 1
command -v clang-format >/dev/null 2>&1 || { echo "clang-format is not installed"; exit 1; }
bad=0
files=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find src tests include -name '*.[ch]'); do
	files=$((files + 1))
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f"
		bad=$((bad + 1))
	fi
done
echo "$((files - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
