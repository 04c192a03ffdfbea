// Name lookups for fully static binaries, without glibc's name-service switch.
//
// In a statically linked program, glibc's getaddrinfo, getservbyname, dlopen
// and their kin load NSS modules or shared objects at run time, which must come
// from the very glibc the binary was linked with: the linker says so for each
// ("Using 'getaddrinfo' in statically linked applications requires at runtime
// the shared libraries from the glibc version used for linking"), and on a
// remote worker with no /usr they are not there at all. The fake's static links
// (`--config=static`, and the standalone programs of every build) therefore
// replace them with `ld --wrap` (server/base/BUILD, :static_nss): every call of
// getaddrinfo, in our code and in the archives of libevent, OpenSSL, gRPC,
// c-ares and GoogleTest, comes here instead, and glibc's NSS code is never
// linked in. What these answer, and all a loopback test fake needs:
//   - getaddrinfo: IP literals, names from /etc/hosts (in the file's order),
//   and
//     `localhost` (with `*.localhost`, RFC 6761) as loopback when /etc/hosts
//     has no entry; numeric services only; no DNS (c-ares, inside gRPC, does
//     its own).
//   - getservbyname, getservbyport_r, gethostbyname: "not found";
//     getprotobynumber: tcp and udp; dlopen: fails (nothing is loaded).

#include "server/base/static_nss.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

namespace {

// One result: an addrinfo and its address in one block, which glibc's own
// freeaddrinfo would also free correctly (it frees each node and its name).
struct Node {
  addrinfo info;
  sockaddr_storage address;
};

struct Request {
  int family;
  int socktype;
  int protocol;
  int flags;
  in_port_t port;  // network order
  const char* canonical_name;
  addrinfo* head = nullptr;
  addrinfo** tail = &head;
};

bool Append(Request& request, int family, const void* address, int socktype,
            int protocol) {
  Node* node = static_cast<Node*>(calloc(1, sizeof(Node)));
  if (node == nullptr) return false;
  node->info.ai_family = family;
  node->info.ai_socktype = socktype;
  node->info.ai_protocol = protocol;
  node->info.ai_addr = reinterpret_cast<sockaddr*>(&node->address);
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&node->address);
    in->sin_family = AF_INET;
    in->sin_port = request.port;
    memcpy(&in->sin_addr, address, sizeof(in->sin_addr));
    node->info.ai_addrlen = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&node->address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = request.port;
    memcpy(&in6->sin6_addr, address, sizeof(in6->sin6_addr));
    node->info.ai_addrlen = sizeof(sockaddr_in6);
  }
  if (request.head == nullptr && (request.flags & AI_CANONNAME) != 0 &&
      request.canonical_name != nullptr) {
    node->info.ai_canonname = strdup(request.canonical_name);
  }
  *request.tail = &node->info;
  request.tail = &node->info.ai_next;
  return true;
}

// Adds `address` of `family` once per socket type asked for (both stream and
// datagram when the hints name none, as glibc does). False: out of memory.
bool AddAddress(Request& request, int family, const void* address) {
  if (request.family != AF_UNSPEC && request.family != family) return true;
  if (request.socktype != 0) {
    return Append(request, family, address, request.socktype, request.protocol);
  }
  return Append(request, family, address, SOCK_STREAM, IPPROTO_TCP) &&
         Append(request, family, address, SOCK_DGRAM, IPPROTO_UDP);
}

void FreeChain(addrinfo* ai) {
  while (ai != nullptr) {
    addrinfo* next = ai->ai_next;
    free(ai->ai_canonname);
    free(ai);
    ai = next;
  }
}

// Parses an IP literal into `out` (16 bytes); returns its family, or 0.
int ParseLiteral(const char* text, unsigned char* out) {
  if (inet_pton(AF_INET, text, out) == 1) return AF_INET;
  if (inet_pton(AF_INET6, text, out) == 1) return AF_INET6;
  return 0;
}

// Adds every address /etc/hosts gives `name`, in the file's order. Returns
// false only when out of memory.
bool AddFromHosts(Request& request, const char* hosts_path, const char* name) {
  FILE* hosts = fopen(hosts_path, "re");
  if (hosts == nullptr) return true;
  char line[1024];
  bool ok = true;
  while (ok && fgets(line, sizeof(line), hosts) != nullptr) {
    char* comment = strchr(line, '#');
    if (comment != nullptr) *comment = '\0';
    char* save = nullptr;
    const char* address = strtok_r(line, " \t\r\n", &save);
    if (address == nullptr) continue;
    unsigned char bytes[16];
    const int family = ParseLiteral(address, bytes);
    if (family == 0) continue;
    for (const char* alias = strtok_r(nullptr, " \t\r\n", &save);
         alias != nullptr; alias = strtok_r(nullptr, " \t\r\n", &save)) {
      if (strcasecmp(alias, name) == 0) {
        ok = AddAddress(request, family, bytes);
        break;
      }
    }
  }
  fclose(hosts);
  return ok;
}

bool IsLocalhost(const char* name) {
  const size_t n = strlen(name);
  static constexpr char kSuffix[] = ".localhost";
  const size_t suffix = sizeof(kSuffix) - 1;
  return strcasecmp(name, "localhost") == 0 ||
         (n > suffix && strcasecmp(name + n - suffix, kSuffix) == 0);
}

// Adds the loopback (or, passive, the wildcard) addresses of the families asked
// for, IPv4 first.
bool AddLoopbackOrAny(Request& request, bool any) {
  const in_addr v4{htonl(any ? INADDR_ANY : INADDR_LOOPBACK)};
  const in6_addr v6 = any ? in6addr_any : in6addr_loopback;
  return AddAddress(request, AF_INET, &v4) &&
         AddAddress(request, AF_INET6, &v6);
}

}  // namespace

namespace fake_tcp {

int StaticGetAddrInfo(const char* hosts_path, const char* node,
                      const char* service, const addrinfo* hints,
                      addrinfo** result) {
  *result = nullptr;
  if (node == nullptr && service == nullptr) return EAI_NONAME;
  Request request{};
  request.family = hints != nullptr ? hints->ai_family : AF_UNSPEC;
  request.socktype = hints != nullptr ? hints->ai_socktype : 0;
  request.protocol = hints != nullptr ? hints->ai_protocol : 0;
  request.flags = hints != nullptr ? hints->ai_flags : 0;
  request.canonical_name = node;
  if (request.family != AF_UNSPEC && request.family != AF_INET &&
      request.family != AF_INET6) {
    return EAI_FAMILY;
  }
  if (request.socktype != 0 && request.socktype != SOCK_STREAM &&
      request.socktype != SOCK_DGRAM && request.socktype != SOCK_RAW) {
    return EAI_SOCKTYPE;
  }
  if (request.protocol == 0) {
    if (request.socktype == SOCK_STREAM) request.protocol = IPPROTO_TCP;
    if (request.socktype == SOCK_DGRAM) request.protocol = IPPROTO_UDP;
  }
  if (service != nullptr && service[0] != '\0') {
    char* end = nullptr;
    errno = 0;
    const unsigned long port = strtoul(service, &end, 10);
    // No services database in a static binary: numeric services only.
    if (*end != '\0' || errno != 0 || port > 65535 || service[0] == '-' ||
        service[0] == '+') {
      return EAI_SERVICE;
    }
    request.port = htons(static_cast<in_port_t>(port));
  }
  bool ok = true;
  if (node == nullptr) {
    ok = AddLoopbackOrAny(request, (request.flags & AI_PASSIVE) != 0);
  } else {
    unsigned char bytes[16];
    const int family = ParseLiteral(node, bytes);
    if (family != 0) {
      ok = AddAddress(request, family, bytes);
    } else if ((request.flags & AI_NUMERICHOST) != 0) {
      return EAI_NONAME;
    } else {
      ok = AddFromHosts(request, hosts_path, node);
      if (ok && request.head == nullptr && IsLocalhost(node)) {
        ok = AddLoopbackOrAny(request, /*any=*/false);
      }
    }
  }
  if (!ok) {
    FreeChain(request.head);
    return EAI_MEMORY;
  }
  if (request.head == nullptr) return EAI_NONAME;
  *result = request.head;
  return 0;
}

void StaticFreeAddrInfo(addrinfo* ai) { FreeChain(ai); }

}  // namespace fake_tcp

extern "C" {

int __wrap_getaddrinfo(const char* node, const char* service,
                       const addrinfo* hints, addrinfo** result) {
  return fake_tcp::StaticGetAddrInfo("/etc/hosts", node, service, hints,
                                     result);
}

void __wrap_freeaddrinfo(addrinfo* ai) { FreeChain(ai); }

hostent* __wrap_gethostbyname(const char*) {
  h_errno = HOST_NOT_FOUND;
  return nullptr;
}

servent* __wrap_getservbyname(const char*, const char*) { return nullptr; }

int __wrap_getservbyport_r(int, const char*, servent*, char*, size_t,
                           servent** result) {
  *result = nullptr;
  return ENOENT;
}

protoent* __wrap_getprotobynumber(int proto) {
  static char tcp_name[] = "tcp";
  static char udp_name[] = "udp";
  static char* no_aliases[] = {nullptr};
  static protoent tcp{tcp_name, no_aliases, IPPROTO_TCP};
  static protoent udp{udp_name, no_aliases, IPPROTO_UDP};
  if (proto == IPPROTO_TCP) return &tcp;
  if (proto == IPPROTO_UDP) return &udp;
  return nullptr;
}

void* __wrap_dlopen(const char*, int) { return nullptr; }

}  // extern "C"
