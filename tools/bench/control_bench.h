#ifndef TOOLS_BENCH_CONTROL_BENCH_H_
#define TOOLS_BENCH_CONTROL_BENCH_H_

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fake_tcp {

// Prints the control API's table: round trips of GET /v1/status and of a send
// (the API's answer and the bytes at the client), and how soon a pending wait
// returns once the message it waits for arrives; `samples` of each, against
// an in-process fake on loopback.
absl::Status ControlTable(int samples);

// Prints the data path with and without a control client polling GET
// /v1/status 1,000 times a second: persistent load on an in-process fake with
// its control API, `duration` per run, in the order quiet, polled, polled,
// quiet (so drift cancels), as rates and latency ratios polled / quiet.
absl::Status ControlPollingTable(absl::Duration duration);

}  // namespace fake_tcp

#endif  // TOOLS_BENCH_CONTROL_BENCH_H_
