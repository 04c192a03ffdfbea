"""fuzz_target: a libFuzzer target and a test that runs its seed corpus."""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")

def fuzz_target(name, srcs, corpus, deps = [], **kwargs):
    """Defines `name` (a fuzzer) and `name_test` (its corpus as a regression test).

    The source defines `extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t)`.
    Under --config=fuzz (clang, libFuzzer + AddressSanitizer), `name` is a libFuzzer
    binary: `bazel-bin/<pkg>/<name> -max_total_time=30 <corpus dir>`. In every other build it
    runs the files and directories given as arguments once each, and `name_test` runs it
    over the seed corpus, so every input that once found a bug stays a test.

    Args:
      name: the fuzzer's name.
      srcs: its sources.
      corpus: a filegroup (or glob) of seed inputs.
      deps: what it fuzzes.
      **kwargs: passed to both rules (e.g. size for the test is set here).
    """
    main = select({
        str(Label("//tools/build:fuzzing")): [],
        "//conditions:default": [str(Label("//tools/build:fuzz_main"))],
    })
    linkopts = select({
        str(Label("//tools/build:fuzzing")): ["-fsanitize=fuzzer"],
        "//conditions:default": [],
    })
    cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        deps = deps + main,
        linkopts = linkopts,
        # Debian ships no static libFuzzer runtime for --config=static to link.
        tags = ["no_static"],
        **kwargs
    )
    cc_test(
        name = name + "_test",
        size = "small",
        srcs = srcs,
        deps = deps + main,
        linkopts = linkopts,
        args = ["$(rootpaths %s)" % corpus],
        data = [corpus],
        tags = ["no_static"],
        **kwargs
    )
