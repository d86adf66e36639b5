#!/bin/sh
# The man pages pass mandoc's lint with no warning (skipped, 77, where
# mandoc is not installed).
command -v mandoc >/dev/null 2>&1 || { echo "mandoc is not installed"; exit 77; }
status=0
for page in man/mmirror.1 man/mmirror.conf.5; do
	out=$(mandoc -T lint -W warning "${srcdir:-.}/$page" 2>&1) || status=1
	if [ -n "$out" ]; then
		echo "$out"
		status=1
	fi
done
exit $status
