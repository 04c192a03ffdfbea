#!/usr/bin/env bash
# Per test: writes every LCOV file (*.dat) under --coverage_dir to --output_file, without
# records of system or external sources. Other flags collect_coverage.sh passes are ignored.
set -euo pipefail
coverage_dir=""
output_file=""
for arg in "$@"; do
  case "${arg}" in
    --coverage_dir=*) coverage_dir="${arg#*=}" ;;
    --output_file=*) output_file="${arg#*=}" ;;
  esac
done
[[ -n "${coverage_dir}" && -n "${output_file}" ]] || {
  echo "lcov_merger: need --coverage_dir and --output_file" >&2
  exit 2
}
find "${coverage_dir}" -name '*.dat' -type f -print0 | sort -z | xargs -0 -r cat |
  awk '
    /^SF:/ { keep = ($0 !~ /^SF:\/usr\// && $0 !~ /external\//) }
    keep { print }
    /^end_of_record/ { keep = 0 }
  ' >"${output_file}.tmp"
mv "${output_file}.tmp" "${output_file}"
