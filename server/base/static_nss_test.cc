#include "server/base/static_nss.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/file.h"

namespace fake_tcp {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Found {
  std::string address;  // "127.0.0.1:80"
  int socktype;
  int protocol;
};

bool operator==(const Found& a, const Found& b) {
  return a.address == b.address && a.socktype == b.socktype &&
         a.protocol == b.protocol;
}

void PrintTo(const Found& f, std::ostream* os) {
  *os << f.address << "/" << f.socktype << "/" << f.protocol;
}

// A hosts file of the test's own, so no answer depends on the machine's.
std::string Hosts(const std::string& text) {
  const std::string path =
      absl::StrCat(getenv("TEST_TMPDIR"), "/hosts", text.size());
  EXPECT_TRUE(WriteFileAtomically(path, text).ok());
  return path;
}

const std::string& DefaultHosts() {
  static const std::string* path = new std::string(
      Hosts("# comment\n127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n"
            "10.1.2.3 db.internal db # trailing comment\n"));
  return *path;
}

std::pair<int, std::vector<Found>> Lookup(const char* node, const char* service,
                                          int family = AF_UNSPEC,
                                          int socktype = SOCK_STREAM,
                                          int flags = 0,
                                          const std::string& hosts = "") {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = socktype;
  hints.ai_flags = flags;
  addrinfo* result = nullptr;
  const int rc =
      StaticGetAddrInfo((hosts.empty() ? DefaultHosts() : hosts).c_str(), node,
                        service, &hints, &result);
  std::vector<Found> found;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    int port = 0;
    if (ai->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
      port = ntohs(in->sin_port);
      EXPECT_EQ(ai->ai_addrlen, sizeof(sockaddr_in));
    } else {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
      port = ntohs(in6->sin6_port);
      EXPECT_EQ(ai->ai_addrlen, sizeof(sockaddr_in6));
    }
    found.push_back(
        {absl::StrCat(text, ":", port), ai->ai_socktype, ai->ai_protocol});
  }
  StaticFreeAddrInfo(result);
  return {rc, found};
}

Found Tcp(const std::string& address) {
  return {address, SOCK_STREAM, IPPROTO_TCP};
}

TEST(StaticNssTest, LiteralsOfEitherFamily) {
  EXPECT_EQ(Lookup("127.0.0.1", "9500"),
            std::make_pair(0, std::vector<Found>{Tcp("127.0.0.1:9500")}));
  EXPECT_EQ(Lookup("::1", "80"),
            std::make_pair(0, std::vector<Found>{Tcp("::1:80")}));
  // A literal of the other family than asked for is no answer.
  EXPECT_EQ(Lookup("::1", "80", AF_INET).first, EAI_NONAME);
}

TEST(StaticNssTest, NamesFromTheHostsFileInItsOrder) {
  EXPECT_THAT(Lookup("localhost", "1").second,
              ElementsAre(Tcp("127.0.0.1:1"), Tcp("::1:1")));
  EXPECT_THAT(Lookup("LOCALHOST", "1", AF_INET6).second,
              ElementsAre(Tcp("::1:1")));
  EXPECT_THAT(Lookup("db", "5432").second, ElementsAre(Tcp("10.1.2.3:5432")));
  EXPECT_THAT(Lookup("db.internal", "5432").second,
              ElementsAre(Tcp("10.1.2.3:5432")));
  // Commented out, or not there: not found (there is no DNS here).
  EXPECT_EQ(Lookup("comment", "1").first, EAI_NONAME);
  EXPECT_EQ(Lookup("example.com", "1").first, EAI_NONAME);
  EXPECT_EQ(Lookup("db", "1", AF_UNSPEC, SOCK_STREAM, AI_NUMERICHOST).first,
            EAI_NONAME);
}

TEST(StaticNssTest, LocalhostIsLoopbackWithoutAHostsFile) {
  const std::string missing = absl::StrCat(getenv("TEST_TMPDIR"), "/none");
  EXPECT_THAT(
      Lookup("localhost", "7", AF_UNSPEC, SOCK_STREAM, 0, missing).second,
      ElementsAre(Tcp("127.0.0.1:7"), Tcp("::1:7")));
  EXPECT_THAT(
      Lookup("api.localhost", "7", AF_INET, SOCK_STREAM, 0, missing).second,
      ElementsAre(Tcp("127.0.0.1:7")));
  EXPECT_EQ(
      Lookup("notlocalhost", "7", AF_UNSPEC, SOCK_STREAM, 0, missing).first,
      EAI_NONAME);
}

TEST(StaticNssTest, NoNodeIsLoopbackOrPassiveTheWildcard) {
  EXPECT_THAT(Lookup(nullptr, "8080").second,
              ElementsAre(Tcp("127.0.0.1:8080"), Tcp("::1:8080")));
  EXPECT_THAT(
      Lookup(nullptr, "8080", AF_UNSPEC, SOCK_STREAM, AI_PASSIVE).second,
      ElementsAre(Tcp("0.0.0.0:8080"), Tcp(":::8080")));
  EXPECT_EQ(Lookup(nullptr, nullptr).first, EAI_NONAME);
}

TEST(StaticNssTest, ServicesAreNumericOnly) {
  EXPECT_THAT(Lookup("127.0.0.1", nullptr).second,
              ElementsAre(Tcp("127.0.0.1:0")));
  EXPECT_THAT(Lookup("127.0.0.1", "65535").second,
              ElementsAre(Tcp("127.0.0.1:65535")));
  EXPECT_EQ(Lookup("127.0.0.1", "http").first, EAI_SERVICE);
  EXPECT_EQ(Lookup("127.0.0.1", "65536").first, EAI_SERVICE);
  EXPECT_EQ(Lookup("127.0.0.1", "-1").first, EAI_SERVICE);
  EXPECT_EQ(Lookup("127.0.0.1", "80x").first, EAI_SERVICE);
}

TEST(StaticNssTest, SocketTypes) {
  // None asked for: one of each, as glibc answers.
  EXPECT_THAT(Lookup("127.0.0.1", "53", AF_INET, 0).second,
              ElementsAre(Found{"127.0.0.1:53", SOCK_STREAM, IPPROTO_TCP},
                          Found{"127.0.0.1:53", SOCK_DGRAM, IPPROTO_UDP}));
  EXPECT_THAT(Lookup("127.0.0.1", "53", AF_INET, SOCK_DGRAM).second,
              ElementsAre(Found{"127.0.0.1:53", SOCK_DGRAM, IPPROTO_UDP}));
  EXPECT_EQ(Lookup("127.0.0.1", "53", AF_INET, 12345).first, EAI_SOCKTYPE);
  EXPECT_EQ(Lookup("127.0.0.1", "53", AF_UNIX).first, EAI_FAMILY);
}

TEST(StaticNssTest, CanonicalNameOnTheFirstResultWhenAsked) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_CANONNAME;
  addrinfo* result = nullptr;
  ASSERT_EQ(StaticGetAddrInfo(DefaultHosts().c_str(), "localhost", "1", &hints,
                              &result),
            0);
  ASSERT_NE(result, nullptr);
  ASSERT_NE(result->ai_canonname, nullptr);
  EXPECT_STREQ(result->ai_canonname, "localhost");
  ASSERT_NE(result->ai_next, nullptr);
  EXPECT_EQ(result->ai_next->ai_canonname, nullptr);
  StaticFreeAddrInfo(result);
}

TEST(StaticNssTest, AnUnreadableOrOddHostsFileIsNoAnswer) {
  const std::string odd =
      Hosts("not-an-address name\n\n   \n#only a comment\n300.1.1.1 big\n");
  EXPECT_EQ(Lookup("name", "1", AF_UNSPEC, SOCK_STREAM, 0, odd).first,
            EAI_NONAME);
  EXPECT_EQ(Lookup("big", "1", AF_UNSPEC, SOCK_STREAM, 0, odd).first,
            EAI_NONAME);
  EXPECT_THAT(Lookup("127.0.0.1", "1", AF_UNSPEC, SOCK_STREAM, 0, odd).second,
              ElementsAre(Tcp("127.0.0.1:1")));
  EXPECT_THAT(Lookup("example.com", "1", AF_UNSPEC, SOCK_STREAM, 0, odd).second,
              IsEmpty());
}

}  // namespace
}  // namespace fake_tcp
