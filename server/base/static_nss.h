#ifndef SERVER_BASE_STATIC_NSS_H_
#define SERVER_BASE_STATIC_NSS_H_

// getaddrinfo for fully static binaries, without glibc's name-service switch
// (static_nss.cc says why, and what it answers). Static links reach it through
// `ld --wrap=getaddrinfo`; these are its testable form.

#include <netdb.h>

namespace fake_tcp {

// getaddrinfo(3) from IP literals, the hosts file at `hosts_path` (in its
// order) and `localhost`; numeric services only. Returns 0 or an EAI_* code;
// *result is freed with StaticFreeAddrInfo (or freeaddrinfo).
int StaticGetAddrInfo(const char* hosts_path, const char* node,
                      const char* service, const addrinfo* hints,
                      addrinfo** result);

void StaticFreeAddrInfo(addrinfo* ai);

}  // namespace fake_tcp

#endif  // SERVER_BASE_STATIC_NSS_H_
