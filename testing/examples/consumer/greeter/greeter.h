#ifndef GREETER_GREETER_H_
#define GREETER_GREETER_H_

#include <string>

namespace greeter {

// Connects to `host`:`port`, sends "HELLO <name>\n" and returns the line the
// server answers (without "\n"), or "" on any error.
std::string Greet(const std::string& name,
                  const std::string& host = "127.0.0.1", int port = 9500);

}  // namespace greeter

#endif  // GREETER_GREETER_H_
