#!/usr/bin/env bash
# The pip path, as a user outside Bazel takes it: in a fresh virtualenv that sees Debian's
# packages, `pip install --no-index --no-build-isolation ./client/python` (no network),
# then plain `pytest` with FAKE_TCP_SERVER_BIN set runs a test that takes the
# fake_tcp_server fixture: the plugin is found through its pytest11 entry point, with no
# conftest, no -p and the source tree not on the path.
set -euo pipefail

runfiles="${TEST_SRCDIR}/${TEST_WORKSPACE}"
work="${TEST_TMPDIR}/pip"
mkdir -p "${work}"
# A writable copy: pip builds in the source tree.
cp -RL "${runfiles}/client/python" "${work}/src"
export HOME="${work}" PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
unset PYTHONPATH

/usr/bin/python3 -m venv --system-site-packages "${work}/venv"
"${work}/venv/bin/pip" install --quiet --no-index --no-build-isolation "${work}/src"
shown=$("${work}/venv/bin/pip" show fake_tcp_server)
grep -q '^Version: ' <<<"${shown}" || { echo "pip does not show fake_tcp_server"; exit 1; }

mkdir "${work}/tests"
cp "${work}/src/examples/test_hello.py" "${work}/tests/"
cd "${work}/tests"
export FAKE_TCP_SERVER_BIN="${runfiles}/tools/fake_tcp_server"
out="${work}/pytest.out"
if ! "${work}/venv/bin/python" -m pytest -p no:cacheprovider -v >"${out}" 2>&1; then
  cat "${out}"
  echo "pytest failed in the pip-installed virtualenv"
  exit 1
fi
cat "${out}"
grep -q '2 passed' "${out}" || { echo "expected 2 passed"; exit 1; }
# The plugin came from the installed package, not from the source tree.
imported=$("${work}/venv/bin/python" -c 'import fake_tcp_server; print(fake_tcp_server.__file__)')
[[ "${imported}" == "${work}/venv/"* ]] ||
  { echo "fake_tcp_server imported from ${imported}, not the venv"; exit 1; }
echo "pip path: OK"
