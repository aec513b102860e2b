#!/bin/sh
# Fails if project sources call a banned function (see src/common/banned.h).
top=${1:-.}
hits=$(grep -rnE '\b(strcpy|strcat|strncpy|strncat|sprintf|vsprintf|gets|atoi|atol|strtok)\s*\(' \
	"$top/src" --include='*.c' | grep -v 'snprintf\|vsnprintf' || true)
if [ -n "$hits" ]; then
	echo "banned functions used:"
	echo "$hits"
	exit 1
fi
echo "1 passed, 0 failed"
