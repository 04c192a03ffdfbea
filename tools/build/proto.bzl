"""C++ (and gRPC) code from a .proto file with the host's protoc (no download, no @com_google_protobuf)."""

load("@rules_cc//cc:defs.bzl", "cc_library")

def cc_proto(name, src, import_path, grpc = False, deps = [], **kwargs):
    """Generates `<import_path stem>.pb.{h,cc}` (and `.grpc.pb.*`) and a cc_library `name`.

    Args:
      name: the cc_library's name.
      src: the .proto file (a label).
      import_path: the path other files import it by, e.g. "grpc/health/v1/health.proto";
        generated headers are included by the same path with `.pb.h`.
      grpc: also generate gRPC service code with grpc_cpp_plugin.
      deps: cc_proto targets of imported protos.
      **kwargs: testonly, visibility, ... for the cc_library.
    """
    pkg = native.package_name()
    stem = import_path[:-len(".proto")]
    in_package = pkg != "" and stem.startswith(pkg + "/")
    rel = stem[len(pkg) + 1:] if in_package else stem
    kinds = [".pb"] + ([".grpc.pb"] if grpc else [])
    hdrs = [rel + k + ".h" for k in kinds]
    srcs = [rel + k + ".cc" for k in kinds]
    out_dir = "$(GENDIR)" if in_package else "$(GENDIR)/" + pkg
    plugin = ""
    tools = ["@system_libs//:protoc"]
    if grpc:
        tools.append("@system_libs//:grpc_cpp_plugin")
        plugin = (" --plugin=protoc-gen-grpc=$(location @system_libs//:grpc_cpp_plugin)" +
                  " --grpc_out=" + out_dir)
    wkt_root = "@system_libs//:well_known_protos_root"
    native.genrule(
        name = name + "_gen",
        # The well-known types are declared inputs with their own --proto_path: protoc's
        # built-in include path is the host's and is not there on a remote worker.
        srcs = [src, "@system_libs//:well_known_protos", wkt_root],
        outs = hdrs + srcs,
        tools = tools,
        cmd = " ".join([
            "src=$(location {});".format(src),
            "root=$${src%%%s};" % import_path,
            "wkt=$(execpath %s);" % wkt_root,
            "$(location @system_libs//:protoc)",
            "--proto_path=$${root:-.}",
            "--proto_path=$${wkt%/google/protobuf/descriptor.proto}",
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
        deps = deps + ["@system_libs//:protobuf"] + (["@system_libs//:grpc"] if grpc else []),
        **kwargs
    )
