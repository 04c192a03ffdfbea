"""Programs of the host's Debian packages as declared inputs of tests.

A test that drives a real program nobody here wrote (Debian's `redis-server` and `redis-cli`,
`openssl s_client`, `curl`) names it as `data` (`@host_tools//:redis-server`), so the action declares
every file it runs and a remote executor receives them with its inputs. `tools/bazel`
installs the packages (HOST_TOOLS below); where one is missing, its target is a stub that
fails saying which package to install, so the rest of the build is unaffected.
"""

# Program (in /usr/bin) -> the Debian package that installs it.
HOST_TOOLS = {
    "curl": "curl",
    "openssl": "openssl",
    "redis-cli": "redis-tools",
    "redis-server": "redis-server",
}

def _host_tools_impl(rctx):
    for program, package in rctx.attr.tools.items():
        path = rctx.path("/usr/bin/" + program)
        if path.exists:
            rctx.symlink(path, program)
        else:
            rctx.file(
                program,
                ("#!/bin/sh\necho '{program}: not installed: tools/bazel installs it, or " +
                 "apt-get install {package}' >&2\nexit 127\n").format(
                    program = program,
                    package = package,
                ),
                executable = True,
            )
    rctx.file("BUILD", "exports_files({}, visibility = [\"//visibility:public\"])\n".format(
        repr(sorted(rctx.attr.tools.keys())),
    ))

host_tools = repository_rule(
    implementation = _host_tools_impl,
    attrs = {"tools": attr.string_dict(mandatory = True)},
    local = True,
)
