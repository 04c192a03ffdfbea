// The per-test overhead of the fixture: SetUp (start the fake and its health
// endpoint, wait on Health/Watch until SERVING) plus TearDown (stop both), in
// process and out of process.
//
//   tools/bazel run -c opt //testing:fixture_benchmark

#include "benchmark/benchmark.h"
#include "testing/harness.h"

namespace fake_tcp::testing {
namespace {

void SetUpTearDown(benchmark::State& state, bool out_of_process) {
  FixtureOptions options;
  options.server.port = 0;
  options.out_of_process = out_of_process;
  for (auto _ : state) {
    Harness harness(options);
    const absl::Status s = harness.Start();
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
    harness.Stop();
  }
}

void BM_InProcess(benchmark::State& state) { SetUpTearDown(state, false); }
void BM_OutOfProcess(benchmark::State& state) { SetUpTearDown(state, true); }

BENCHMARK(BM_InProcess)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_OutOfProcess)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace fake_tcp::testing

BENCHMARK_MAIN();
