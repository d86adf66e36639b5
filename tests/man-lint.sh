#!/bin/sh
# The man page passes mandoc's lint with no warning (skipped, 77, where
# mandoc is not installed).
command -v mandoc >/dev/null 2>&1 || { echo "mandoc is not installed"; exit 77; }
out=$(mandoc -T lint -W warning "${srcdir:-.}/man/mmirror.1" 2>&1)
status=$?
[ -z "$out" ] && [ "$status" -eq 0 ] && exit 0
echo "$out"
exit 1
