"""fake_tcp_server_test: a cc_test for tests that use the fake TCP server."""

load("@rules_cc//cc:defs.bzl", "cc_test")

def fake_tcp_server_test(
        name,
        deps = [],
        tags = [],
        size = "small",
        main = True,
        own_network = True,
        **kwargs):
    """A cc_test that depends on //testing:fake_tcp_server and runs in a network of its own.

    Each test process (each shard, each run) enters a network namespace with only loopback
    before main(), so the fixed port 9500 never collides with another test, on any executor:
    linux-sandbox, --spawn_strategy=standalone, the processwrapper sandbox, a remote worker
    whose actions share its network (server/testing/network_isolation.h). The "block-network" tag
    asks linux-sandbox for the same. Accepts everything cc_test accepts (srcs, data, args,
    shard_count, flaky, env, ...).

    Args:
      name: the test's name.
      deps: its dependencies; //testing:fake_tcp_server is added.
      tags: its tags; "block-network" is added unless own_network is False.
      size: its size, "small" by default (a 60 s timeout).
      main: link GoogleTest's gmock_main (set False to bring your own main()).
      own_network: False for a test that must reach the outside network: it then shares
        the network of the executor (use port 0 there). At run time,
        FAKE_TCP_SERVER_OWN_NETWORK=0 in the test's environment does the same.
      **kwargs: anything else cc_test takes.
    """
    fixture = str(Label("//testing:fake_tcp_server"))
    all_deps = list(deps)
    if fixture not in all_deps and "//testing:fake_tcp_server" not in all_deps:
        all_deps.append(fixture)
    if own_network:
        all_deps.append(str(Label("//server/testing:own_network")))
    if main:
        all_deps.append(str(Label("@fake_tcp_deps//:gmock_main")))
    all_tags = list(tags)
    if own_network and "block-network" not in all_tags:
        all_tags.append("block-network")
    cc_test(
        name = name,
        deps = all_deps,
        tags = all_tags,
        size = size,
        **kwargs
    )

def fake_tcp_py_test(
        name,
        srcs,
        deps = [],
        data = [],
        args = [],
        tags = [],
        size = "small",
        own_network = True,
        **kwargs):
    """A pytest test with the fake_tcp_server plugin, in a network of its own.

    The Python sibling of fake_tcp_server_test(): runs `srcs` with Debian's pytest and the
    plugin (`-p fake_tcp_server.plugin`), so every test can take the `fake_tcp_server`
    fixture; the fake is //tools:fake_tcp_server from the runfiles. The session starts in a
    network namespace with only loopback (//testing:own_network_exec), so port 9500 never
    collides, on any executor. Extra pytest arguments go after "--" in `args`.

    Args:
      name: the test's name.
      srcs: the test files (test_*.py or *_test.py, each a pytest module).
      deps: py_library dependencies; the client and plugin are added.
      data: data dependencies; //tools:fake_tcp_server is added.
      args: more arguments: more files, or pytest's after "--".
      tags: its tags; "block-network" is added unless own_network is False.
      size: its size, "small" by default (a 60 s timeout).
      own_network: False for a test that must reach the outside network.
      **kwargs: anything else py_test takes (shard_count, flaky, timeout, ...).
    """
    runner = str(Label("//client/python:pytest_main.py"))
    all_data = list(data) + [str(Label("//tools:fake_tcp_server"))]
    runner_args = []
    if own_network:
        all_data.append(str(Label("//testing:own_network_exec")))
        runner_args.append("--own_network")
    all_tags = list(tags)
    if own_network and "block-network" not in all_tags:
        all_tags.append("block-network")
    native.py_test(
        name = name,
        srcs = list(srcs) + [runner],
        main = runner,
        deps = list(deps) + [str(Label("//client/python:fake_tcp_server"))],
        data = all_data,
        args = runner_args + ["$(rootpaths %s)" % s for s in srcs] + list(args),
        python_version = "PY3",
        srcs_version = "PY3",
        tags = all_tags,
        size = size,
        testonly = True,
        **kwargs
    )
