#ifndef TOOLS_BENCH_BULK_BENCH_H_
#define TOOLS_BENCH_BULK_BENCH_H_

#include "absl/status/status.h"
#include "tools/bench/bench_common.h"

namespace fake_tcp {

// Prints the bulk table: `mib` MiB through one connection, raw framing.
// Client to server: the standalone fake (a "Received" per read, as the bare
// server answers) with the log at its default caps and with the log sized to
// hold it all, against the bare server process; its peak memory, and its
// memory once the log is cleared. Server to client: the fake sending one
// reply of `mib` MiB (--reply_file), against a loopback sender that writes the
// same bytes from memory with no server around it.
absl::Status BulkTable(const Programs& programs, int mib);

}  // namespace fake_tcp

#endif  // TOOLS_BENCH_BULK_BENCH_H_
