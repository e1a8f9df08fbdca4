#include "troupe/messages/errc.hpp"

namespace troupe {

const char* to_string(errc code) {
  switch (code) {
    case errc::corrupt_payload:
      return "corrupt_payload";
    case errc::unknown_message_type:
      return "unknown_message_type";
    case errc::message_too_large:
      return "message_too_large";
    case errc::not_serializable:
      return "not_serializable";
    case errc::node_down:
      return "node_down";
    case errc::protocol_error:
      return "protocol_error";
    case errc::version_mismatch:
      return "version_mismatch";
    case errc::auth_failed:
      return "auth_failed";
    case errc::unknown_actor_type:
      return "unknown_actor_type";
    case errc::unknown_task:
      return "unknown_task";
    case errc::task_failed:
      return "task_failed";
    case errc::worker_lost:
      return "worker_lost";
    case errc::pool_closed:
      return "pool_closed";
    case errc::connect_failed:
      return "connect_failed";
    case errc::handshake_timeout:
      return "handshake_timeout";
    case errc::unknown_actor:
      return "unknown_actor";
    case errc::cancelled:
      return "cancelled";
    case errc::shutdown:
      return "shutdown";
    case errc::stream_aborted:
      return "stream_aborted";
    case errc::task_timeout:
      return "task_timeout";
    case errc::worker_start_failed:
      return "worker_start_failed";
    case errc::terminated:
      return "terminated";
    case errc::revoked:
      return "revoked";
    case errc::too_many:
      return "too_many";
  }
  return "unknown_error";
}

errc errc_from_wire(uint32_t code) {
  return code >= 1 && code <= errc_last ? static_cast<errc>(code) : errc::protocol_error;
}

}  // namespace troupe
