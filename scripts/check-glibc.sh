#!/usr/bin/env bash
# check-glibc.sh ADDON MAX: fails when the linux prebuild ADDON needs a glibc symbol version above MAX
# (e.g. 2.28), any libstdc++ version (GLIBCXX_/CXXABI_: it must be linked statically), a shared
# library other than libc/libm/libdl/libpthread/ld-linux, or an unresolved __wrap_ symbol (a shim
# missing from native/util/glibc_compat.cpp). Prints the newest glibc version it needs.
set -euo pipefail
addon=$1 max=$2
OBJDUMP=${OBJDUMP:-objdump}
syms=$("$OBJDUMP" -T "$addon")
fail=0
newest=$(grep -oE '\(GLIBC_[0-9.]+\)' <<<"$syms" | tr -d '()' | sed 's/GLIBC_//' | sort -uV | tail -1)
while read -r v; do
  [ -n "$v" ] || continue
  if [ "$(printf '%s\n%s\n' "$v" "$max" | sort -V | tail -1)" != "$max" ]; then
    echo "check-glibc: $addon needs GLIBC_$v (> $max):" >&2
    grep -F "(GLIBC_$v)" <<<"$syms" >&2
    fail=1
  fi
done < <(grep -oE '\(GLIBC_[0-9.]+\)' <<<"$syms" | tr -d '()' | sed 's/GLIBC_//' | sort -uV)
if grep -E 'GLIBCXX_|CXXABI_' <<<"$syms" >&2; then
  echo "check-glibc: $addon needs the system libstdc++ (above); link it with -static-libstdc++" >&2
  fail=1
fi
if grep -E '__wrap_' <<<"$syms" >&2; then
  echo "check-glibc: $addon has unresolved --wrap shims (above)" >&2
  fail=1
fi
bad=$("$OBJDUMP" -p "$addon" | awk '/NEEDED/ {print $2}' | grep -vE '^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|ld-linux-(x86-64|aarch64)\.so\.[12])$' || true)
if [ -n "$bad" ]; then
  echo "check-glibc: $addon needs shared libraries beyond glibc: $bad" >&2
  fail=1
fi
[ "$fail" = 0 ] || exit 1
echo "check-glibc: $addon needs glibc >= $newest (limit $max), no libstdc++"
