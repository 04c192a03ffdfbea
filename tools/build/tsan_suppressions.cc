// ThreadSanitizer's suppressions for --config=tsan, linked into every binary of
// that build (through @system_libs//:absl), so no test needs a file or an
// environment variable for them.
//
// Only Debian's gRPC is named. It is not instrumented: the atomics and
// lock-free queues with which it hands objects between its own threads are
// invisible to TSan. Since Abseil is instrumented in this build (compiled from
// source, so that TSan sees absl::Mutex, ours and gRPC's), gRPC's accesses
// through Abseil (absl::Status payloads, absl::Cord) show up as races between
// two gRPC threads. Nothing of ours is suppressed: a race in our code whose
// stacks hold no gRPC frame is reported and fails the test.

extern "C" const char* __tsan_default_suppressions() {
  return "race:libgrpc.so\n"
         "race:libgpr.so\n"
         "race:libgrpc++.so\n";
}
