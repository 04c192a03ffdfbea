#ifndef TESTING_MATCHERS_H_
#define TESTING_MATCHERS_H_

// gMock matchers over a fake_tcp::MessageLog:
//
//   EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("SET k v", "GET k")));
//   EXPECT_THAT(log(), HasReceived(HasSubstr("Hello")));
//   EXPECT_THAT(log(), HasSent("OK\n"));
//   EXPECT_THAT(log(), ConnectionsAccepted(2));

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "server/log/message_log.h"

namespace fake_tcp::testing {

// The bytes of every kept received message, in order, match `matcher`.
MATCHER_P(ReceivedMessagesAre, matcher,
          std::string(negation ? "doesn't have" : "has") +
              " received messages that " +
              ::testing::DescribeMatcher<std::vector<std::string>>(matcher)) {
  const std::vector<std::string> messages = arg.ReceivedMessages();
  *result_listener << "whose received messages are "
                   << ::testing::PrintToString(messages);
  return ::testing::Matches(matcher)(messages);
}

// Some kept received message's bytes match `matcher`.
MATCHER_P(HasReceived, matcher,
          std::string(negation ? "has received no" : "has received a") +
              " message that " +
              ::testing::DescribeMatcher<const std::string&>(matcher)) {
  const std::vector<std::string> messages = arg.ReceivedMessages();
  for (const std::string& m : messages) {
    if (::testing::Matches(matcher)(m)) return true;
  }
  *result_listener << "whose received messages are "
                   << ::testing::PrintToString(messages);
  return false;
}

// Some kept sent message's bytes match `matcher`.
MATCHER_P(HasSent, matcher,
          std::string(negation ? "has sent no" : "has sent a") +
              " message that " +
              ::testing::DescribeMatcher<const std::string&>(matcher)) {
  std::vector<std::string> sent;
  for (const fake_tcp::Event& e :
       arg.EventsOfType(fake_tcp::EventType::kSent)) {
    if (::testing::Matches(matcher)(e.bytes)) return true;
    sent.push_back(e.bytes);
  }
  *result_listener << "whose sent messages are "
                   << ::testing::PrintToString(sent);
  return false;
}

// The number of connections accepted matches `matcher` (a number or e.g.
// Ge(2)).
MATCHER_P(ConnectionsAccepted, matcher,
          std::string(negation ? "hasn't" : "has") +
              " accepted a number of "
              "connections that " +
              ::testing::DescribeMatcher<uint64_t>(matcher)) {
  const uint64_t accepted = arg.counts().accepted;
  *result_listener << "which accepted " << accepted;
  return ::testing::Matches(matcher)(accepted);
}

}  // namespace fake_tcp::testing

#endif  // TESTING_MATCHERS_H_
