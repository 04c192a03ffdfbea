"""The Python figures of the bench table (//tools/bench runs this as its "python" section).

    python_bench.py --launches=N

Prints a Markdown table: a fresh fake's start to ready from Python (FakeTcpServer.start),
the fixture's cost per test on the shared fake (its reset), and the same per test through
pytest itself (a session of tests that take the fixture against one whose tests do not).
Needs FAKE_TCP_SERVER_BIN, or Bazel runfiles, to find the fake.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import fake_tcp_server
from fake_tcp_server import FakeTcpServer

_PYTEST_TESTS = 200


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def row(name, values_s, target):
    ms = [v * 1000 for v in values_s]
    print(
        f"| {name} | {statistics.median(ms):.2f} ms | {percentile(ms, 0.9):.2f} ms "
        f"| {len(ms)} | {target} |"
    )


def fresh_starts(launches):
    times, ready_by = [], ""
    for _ in range(launches):
        fake = FakeTcpServer()
        started = time.monotonic()
        fake.start()
        times.append(time.monotonic() - started)
        ready_by = fake.ready_by
        fake.cleanup()
    return times, ready_by


def resets(count):
    times = []
    with FakeTcpServer() as fake:
        for _ in range(count):
            started = time.monotonic()
            fake.reset()
            times.append(time.monotonic() - started)
    return times


def pytest_session(directory, with_fixture):
    """Seconds for a pytest session of _PYTEST_TESTS tests (its own process)."""
    argument = "fake_tcp_server" if with_fixture else ""
    path = os.path.join(directory, f"test_{'with' if with_fixture else 'without'}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write("import pytest\n\n")
        f.write(f"@pytest.mark.parametrize('i', range({_PYTEST_TESTS}))\n")
        f.write(f"def test_it({argument}{', ' if argument else ''}i):\n    pass\n")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "fake_tcp_server.plugin"]
    command += ["-p", "no:cacheprovider", path]
    # The session imports this very package.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fake_tcp_server.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=directory, env=env)
    return time.monotonic() - started


def per_test_through_pytest(rounds):
    per_test = []
    with tempfile.TemporaryDirectory(prefix="python_bench.") as directory:
        for _ in range(rounds):
            without = pytest_session(directory, with_fixture=False)
            with_fixture = pytest_session(directory, with_fixture=True)
            per_test.append((with_fixture - without) / _PYTEST_TESTS)
    return per_test


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=20)
    args = parser.parse_args()
    if not 1 <= args.launches <= 200:
        parser.error(f"--launches={args.launches}: must be 1..200")
    starts, ready_by = fresh_starts(args.launches)
    reset_times = resets(args.launches * 20)
    pytest_times = per_test_through_pytest(max(1, args.launches // 10))
    print(f"## Python: the pytest plugin (readiness: {ready_by})\n")
    print("| figure | median | p90 | samples | target |")
    print("|---|---|---|---|---|")
    row("fresh fake: FakeTcpServer.start() to ready", starts, "≤ 50 ms")
    row("per test on the shared fake: reset", reset_times, "≤ 5 ms")
    row(
        f"per test through pytest ({_PYTEST_TESTS} tests with the fixture − without)",
        pytest_times,
        "≤ 5 ms",
    )
    print()


if __name__ == "__main__":
    main()
