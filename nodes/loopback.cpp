#include "troupe/nodes/loopback.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>

namespace troupe {
namespace {

bool is_loopback(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    auto ip = ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr);
    return (ip >> 24) == 127;
  }
  if (addr->sa_family == AF_INET6) {
    const auto& ip = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&ip))
      return true;
    return IN6_IS_ADDR_V4MAPPED(&ip) && ip.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace

std::optional<std::string> loopback_address(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0)
    return std::nullopt;
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned{found, freeaddrinfo};
  std::optional<std::string> first;
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (!is_loopback(ai->ai_addr))
      return std::nullopt;
    char numeric[NI_MAXHOST];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, numeric, sizeof(numeric), nullptr, 0,
                    NI_NUMERICHOST)
        != 0)
      return std::nullopt;
    if (!first)
      first = numeric;
  }
  return first;
}

}  // namespace troupe
