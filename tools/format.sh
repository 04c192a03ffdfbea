#!/usr/bin/env bash
# Checks (default) or fixes (--fix) the formatting of every tracked C++ file (clang-format,
# Google style from .clang-format) and Bazel file (buildifier). Exits 1 when a file is not
# formatted, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=check
[[ "${1:-}" == "--fix" ]] && mode=fix

for tool in clang-format buildifier; do
  command -v "${tool}" >/dev/null || {
    echo "format: ${tool} not found; run tools/bazel once (it installs it)" >&2
    exit 2
  }
done

mapfile -t cc_files < <(git ls-files --cached --others --exclude-standard -- '*.cc' '*.h')
mapfile -t bazel_files < <(git ls-files --cached --others --exclude-standard -- \
  'WORKSPACE' '*/WORKSPACE' 'BUILD' '*/BUILD' '*.bzl' '*.bazel')

if [[ "${mode}" == fix ]]; then
  ((${#cc_files[@]})) && clang-format -i "${cc_files[@]}"
  ((${#bazel_files[@]})) && buildifier "${bazel_files[@]}"
  exit 0
fi

status=0
for f in "${cc_files[@]}"; do
  if ! clang-format --dry-run -Werror "${f}" >/dev/null 2>&1; then
    echo "format: ${f} is not clang-formatted (tools/format.sh --fix)" >&2
    status=1
  fi
done
if ((${#bazel_files[@]})) && ! buildifier --mode=check "${bazel_files[@]}" >&2; then
  echo "format: BUILD/.bzl files are not buildifier-formatted (tools/format.sh --fix)" >&2
  status=1
fi
exit "${status}"
