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
    whose actions share its network (testing/network_isolation.h). The "block-network" tag
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
        all_deps.append(str(Label("//testing:own_network")))
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
