"""fake_tcp_server_test: a cc_test for tests that use the fake TCP server."""

load("@rules_cc//cc:defs.bzl", "cc_test")

def fake_tcp_server_test(
        name,
        deps = [],
        tags = [],
        size = "small",
        main = True,
        **kwargs):
    """A cc_test that depends on //testing:fake_tcp_server and runs in its own network namespace.

    Each test (each shard, each run) gets a network namespace with only loopback, so the
    fixed port 9500 never collides with another test. Accepts everything cc_test accepts
    (srcs, data, args, shard_count, flaky, env, ...).

    Args:
      name: the test's name.
      deps: its dependencies; //testing:fake_tcp_server is added.
      tags: its tags; "block-network" is added (the network namespace).
      size: its size, "small" by default (a 60 s timeout).
      main: link GoogleTest's gmock_main (set False to bring your own main()).
      **kwargs: anything else cc_test takes.
    """
    fixture = str(Label("//testing:fake_tcp_server"))
    all_deps = list(deps)
    if fixture not in all_deps and "//testing:fake_tcp_server" not in all_deps:
        all_deps.append(fixture)
    if main:
        all_deps.append("@system_libs//:gmock_main")
    all_tags = list(tags)
    if "block-network" not in all_tags:
        all_tags.append("block-network")
    cc_test(
        name = name,
        deps = all_deps,
        tags = all_tags,
        size = size,
        **kwargs
    )
