"""C++ (and gRPC) code from a .proto file with protoc from @fake_tcp_deps (the host's by default)."""

load("@rules_cc//cc:defs.bzl", "cc_library")

def cc_proto(name, src, import_path, grpc = False, deps = [], imports = [], **kwargs):
    """Generates `<import_path stem>.pb.{h,cc}` (and `.grpc.pb.*`) and a cc_library `name`.

    Args:
      name: the cc_library's name.
      src: the .proto file (a label).
      import_path: the path other files import it by, e.g. "grpc/health/v1/health.proto";
        generated headers are included by the same path with `.pb.h`.
      grpc: also generate gRPC service code with grpc_cpp_plugin.
      deps: cc_proto targets of imported protos.
      imports: the .proto files `src` imports from this module (labels), read by protoc.
      **kwargs: testonly, visibility, ... for the cc_library.
    """
    pkg = native.package_name()
    stem = import_path[:-len(".proto")]
    in_package = pkg != "" and stem.startswith(pkg + "/")
    rel = stem[len(pkg) + 1:] if in_package else stem
    kinds = [".pb"] + ([".grpc.pb"] if grpc else [])
    hdrs = [rel + k + ".h" for k in kinds]
    srcs = [rel + k + ".cc" for k in kinds]

    # Labels, so they resolve in this module also when a macro call is in another workspace.
    protoc = str(Label("@fake_tcp_deps//:protoc"))
    grpc_plugin = str(Label("@fake_tcp_deps//:grpc_cpp_plugin"))
    wkt = str(Label("@fake_tcp_deps//:well_known_protos"))

    # protoc writes <out>/<import path>: the package's output directory ($(RULEDIR), which
    # has this repository's external/<name> prefix when the module is an external one),
    # less the package when the import path starts with it.
    out_dir = "$${out%%/%s}" % pkg if in_package else "$${out}"
    plugin = ""
    tools = [protoc]
    if grpc:
        tools.append(grpc_plugin)
        plugin = (" --plugin=protoc-gen-grpc=$(execpath %s)" % grpc_plugin +
                  " --grpc_out=" + out_dir)
    native.genrule(
        name = name + "_gen",
        # The well-known types are declared inputs with their own --proto_path: protoc's
        # built-in include path is the host's and is not there on a remote worker. Their
        # import root is the directory above google/protobuf/ of any one of them.
        srcs = [src, wkt] + imports,
        outs = hdrs + srcs,
        tools = tools,
        cmd = " ".join([
            "out=$(RULEDIR);",
            "src=$(location {});".format(src),
            "root=$${src%%%s};" % import_path,
            "wkt=($(execpaths %s));" % wkt,
            "wkt_root=$${wkt[0]%%/google/protobuf/*};",
            "$(execpath %s)" % protoc,
            "--proto_path=$${root:-.}",
            "--proto_path=$${wkt_root}",
            "--cpp_out=" + out_dir + plugin,
            import_path,
        ]),
        testonly = kwargs.get("testonly", False),
        visibility = ["//visibility:private"],
    )
    cc_library(
        name = name,
        srcs = srcs,
        hdrs = hdrs,
        includes = [] if in_package else ["."],
        deps = deps + [str(Label("@fake_tcp_deps//:protobuf"))] +
               ([str(Label("@fake_tcp_deps//:grpc"))] if grpc else []),
        **kwargs
    )
