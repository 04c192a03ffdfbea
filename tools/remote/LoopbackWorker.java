// A loopback-only launcher for Bazel's reference remote worker (src/tools/remote in Bazel's
// tree, compiled from Debian's bazel-bootstrap-source by tools/remote/worker.sh).
//
// The worker's own main() listens on every interface (an executor of arbitrary commands open
// to the network) and cannot report a port it was asked to pick. This main builds the same
// services and serves them on 127.0.0.1 only, on --listen_port (0 picks a free port), writes
// the bound port to --port_file once the server accepts, and runs the worker's linux-sandbox
// from --sandbox_binary instead of a classpath resource. Every other flag is the worker's own.
//
// It lives in the worker's package because the service classes are package-private.
package com.google.devtools.build.remote.worker;

import build.bazel.remote.execution.v2.ActionResult;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.devtools.build.lib.remote.options.RemoteOptions;
import com.google.devtools.build.lib.remote.util.DigestUtil;
import com.google.devtools.build.lib.remote.util.TracingMetadataUtils;
import com.google.devtools.build.lib.vfs.FileSystem;
import com.google.devtools.build.lib.vfs.FileSystemUtils;
import com.google.devtools.build.lib.vfs.Path;
import com.google.devtools.common.options.Option;
import com.google.devtools.common.options.OptionDocumentationCategory;
import com.google.devtools.common.options.OptionEffectTag;
import com.google.devtools.common.options.OptionsBase;
import com.google.devtools.common.options.OptionsParser;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.ConcurrentHashMap;

public final class LoopbackWorker {
  /** The flags this launcher adds to the worker's own. */
  public static class LauncherOptions extends OptionsBase {
    @Option(
        name = "port_file",
        defaultValue = "null",
        documentationCategory = OptionDocumentationCategory.UNCATEGORIZED,
        effectTags = {OptionEffectTag.UNKNOWN},
        help = "Where to write the bound port (atomically) once the server accepts.")
    public String portFile;

    @Option(
        name = "sandbox_binary",
        defaultValue = "null",
        documentationCategory = OptionDocumentationCategory.UNCATEGORIZED,
        effectTags = {OptionEffectTag.UNKNOWN},
        help = "Bazel's linux-sandbox binary; with --sandboxing, every action runs in it.")
    public String sandboxBinary;
  }

  private static void fail(String message) {
    System.err.println("LoopbackWorker: " + message);
    System.exit(2);
  }

  public static void main(String[] args) throws Exception {
    OptionsParser parser =
        OptionsParser.builder()
            .optionsClasses(RemoteOptions.class, RemoteWorkerOptions.class, LauncherOptions.class)
            .build();
    parser.parseAndExitUponError(args);
    RemoteOptions remoteOptions = parser.getOptions(RemoteOptions.class);
    RemoteWorkerOptions options = parser.getOptions(RemoteWorkerOptions.class);
    LauncherOptions launcher = parser.getOptions(LauncherOptions.class);
    if (options.workPath == null || options.casPath == null) {
      fail("--work_path and --cas_path are required");
    }

    FileSystem fs = RemoteWorker.getFileSystem();
    Path workPath = fs.getPath(options.workPath);
    Path casPath = fs.getPath(options.casPath);
    FileSystemUtils.createDirectoryAndParents(workPath);
    FileSystemUtils.createDirectoryAndParents(casPath);

    Path sandboxPath = null;
    if (options.sandboxing) {
      if (launcher.sandboxBinary == null) {
        fail("--sandboxing needs --sandbox_binary (Bazel's linux-sandbox)");
      }
      // A private copy, as the worker's own main makes: the work path may be on another
      // file system than the installed binary.
      java.nio.file.Path copy = Paths.get(options.workPath, "linux-sandbox");
      Files.copy(
          Paths.get(launcher.sandboxBinary), copy, StandardCopyOption.REPLACE_EXISTING);
      copy.toFile().setExecutable(true);
      sandboxPath = fs.getPath(copy.toString());
    }

    DigestUtil digestUtil = new DigestUtil(fs.getDigestFunction());
    OnDiskBlobStoreCache cache = new OnDiskBlobStoreCache(remoteOptions, casPath, digestUtil);
    ConcurrentHashMap<String, ListenableFuture<ActionResult>> operations =
        new ConcurrentHashMap<>();
    ServerInterceptor headers = new TracingMetadataUtils.ServerHeadersInterceptor();
    InetSocketAddress loopback =
        new InetSocketAddress(InetAddress.getLoopbackAddress(), options.listenPort);
    Server server =
        NettyServerBuilder.forAddress(loopback)
            .addService(
                ServerInterceptors.intercept(new ActionCacheServer(cache, digestUtil), headers))
            .addService(
                ServerInterceptors.intercept(
                    new ByteStreamServer(cache, workPath, digestUtil), headers))
            .addService(ServerInterceptors.intercept(new CasServer(cache), headers))
            .addService(
                ServerInterceptors.intercept(new CapabilitiesServer(digestUtil, true), headers))
            .addService(
                ServerInterceptors.intercept(
                    new ExecutionServer(
                        workPath, sandboxPath, options, cache, operations, digestUtil),
                    headers))
            .build()
            .start();

    int port = server.getPort();
    if (launcher.portFile != null) {
      java.nio.file.Path target = Paths.get(launcher.portFile);
      java.nio.file.Path tmp = Paths.get(launcher.portFile + ".tmp");
      Files.write(tmp, (port + "\n").getBytes(StandardCharsets.UTF_8));
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
    }
    System.err.printf(
        "LoopbackWorker: serving on 127.0.0.1:%d (sandboxing %s, per-action network %s)%n",
        port,
        options.sandboxing ? "on" : "off",
        options.sandboxing && options.sandboxingBlockNetwork ? "isolated" : "shared");
    Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
    server.awaitTermination();
  }

  private LoopbackWorker() {}
}
