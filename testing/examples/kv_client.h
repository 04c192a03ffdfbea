#ifndef TESTING_EXAMPLES_KV_CLIENT_H_
#define TESTING_EXAMPLES_KV_CLIENT_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"

namespace kv {

// An example of code under test: a client of a database-like key-value service
// with a line protocol:
//   SET <key> <value>\n  ->  OK\n
//   GET <key>\n          ->  VALUE <value>\n  |  NOT_FOUND\n
//   anything             ->  ERR <reason>\n
// Each call has a timeout; a call that times out, or whose connection is reset
// or closed, is retried on a new connection, up to `attempts` times in all. ERR
// replies are not retried.
struct KvClientOptions {
  std::string address = "127.0.0.1:9500";
  absl::Duration timeout = absl::Seconds(1);
  int attempts = 3;
};

class KvClient {
 public:
  explicit KvClient(KvClientOptions options) : options_(std::move(options)) {}

  // Stores `value` under `key`. Keys and values are single words.
  absl::Status Set(const std::string& key, const std::string& value);
  // Returns the value of `key`; NOT_FOUND if it has none.
  absl::StatusOr<std::string> Get(const std::string& key);

  // Connections opened so far.
  int connections() const { return connections_; }

 private:
  // Sends `request`, returns the reply line (without "\n"), with retries.
  absl::StatusOr<std::string> Call(const std::string& request);

  const KvClientOptions options_;
  std::optional<fake_tcp::TcpClient> connection_;
  int connections_ = 0;
};

}  // namespace kv

#endif  // TESTING_EXAMPLES_KV_CLIENT_H_
