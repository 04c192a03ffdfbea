"""Compiler options shared by the module's BUILD files."""

# The fake's hot path (the I/O loop, framing, the log, the TCP client the load tools
# drive, the control API's server, service, codec and client) is compiled optimized in every compilation mode but dbg: a test suite built in
# the default fastbuild still gets a fake that is never the bottleneck (tools/bench/README.md).
HOT_PATH_COPTS = select({
    str(Label("//tools/build:dbg")): [],
    "//conditions:default": ["-O2"],
})
