#ifndef TESTING_TRANSCRIPT_H_
#define TESTING_TRANSCRIPT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/log/message_log.h"
#include "testing/harness.h"

namespace fake_tcp::testing {

// What a transcript shows: the whole log of one test, and the waits that
// failed.
struct TranscriptInput {
  // "Suite.Test".
  std::string title;
  // Of the fake server.
  std::string address;
  std::vector<Event> events;
  LogCounts counts;
  // Times are shown relative to it.
  absl::Time origin;
  std::vector<FailedWait> failed_waits;
};

// Returns the transcript as text: a header, then one line per event and per
// failed wait, in time order.
std::string TextTranscript(const TranscriptInput& input);

// Returns the transcript as one self-contained HTML page (no outside scripts,
// fonts or styles): a timeline with a lane per connection, messages in both
// directions with their bytes, faults and closes marked, failed waits
// highlighted across all lanes.
std::string HtmlTranscript(const TranscriptInput& input);

// Writes `<dir>/<name>.transcript.txt` and `<dir>/<name>.transcript.html`, with
// `name` made safe for a file name ("Suite/Param.Test/0" ->
// "Suite_Param.Test_0"). Returns the first write error.
absl::Status WriteTranscripts(const std::string& dir, const std::string& name,
                              const TranscriptInput& input);

// Returns where Bazel keeps the undeclared outputs of the test `test_target`
// (Bazel's TEST_TARGET, e.g. "//testing/examples:hello_world_test") once it has
// ended, relative to the workspace:
// "bazel-testlogs/testing/examples/hello_world_test/test.outputs/outputs.zip"
// ("external/<repo>/..." for a test in another repository). "" for a label it
// cannot read.
std::string StableOutputsPath(absl::string_view test_target);

// Returns `text` with &, <, >, " and ' escaped for HTML.
std::string HtmlEscape(absl::string_view text);

}  // namespace fake_tcp::testing

#endif  // TESTING_TRANSCRIPT_H_
