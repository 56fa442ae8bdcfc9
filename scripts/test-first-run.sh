#!/usr/bin/env bash
# Runs the README's "From a clone of this repository" commands as written, in a fresh clone of the
# committed HEAD placed beside this checkout (so ../shared resolves the same), and fails when one
# fails or `generate` prints nothing. The commands run as a user runs them: without CI=true (so the
# packaging tests that need `npm run prebuildify` first skip with their reason, as they do for a
# user). Usage: scripts/test-first-run.sh [--no-tests] (skip `npm test`)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CLONE="$(dirname "$ROOT")/$(basename "$ROOT")-first-run"
rm -rf "$CLONE"
trap 'rm -rf "$CLONE"' EXIT
git clone -q "$ROOT" "$CLONE"
# the sh block after the line that introduces it
mapfile -t CMDS < <(awk '/^From a clone of this repository/{f=1} f&&/^```sh/{b=1;next} b&&/^```/{exit} b{print}' README.md)
[ "${#CMDS[@]}" -ge 2 ] || { echo "README: no 'From a clone of this repository' sh block"; exit 1; }
cd "$CLONE"
for cmd in "${CMDS[@]}"; do
  if [ "${1:-}" = "--no-tests" ] && [ "$cmd" = "npm test" ]; then echo "skipped: $cmd"; continue; fi
  echo "\$ $cmd"
  start=$SECONDS
  if [[ "$cmd" == *"ringllm generate"* ]]; then
    out="$(env -u CI bash -c "$cmd")"
    echo "$out"
    [ "$(printf '%s' "$out" | wc -c)" -gt 30 ] || { echo "first run: generate printed too little"; exit 1; }
  else
    env -u CI bash -c "$cmd" > "$CLONE.log" 2>&1 || { tail -40 "$CLONE.log"; echo "first run: '$cmd' failed"; exit 1; }
    tail -3 "$CLONE.log"
  fi
  echo "($((SECONDS - start)) s)"
done
rm -f "$CLONE.log"
