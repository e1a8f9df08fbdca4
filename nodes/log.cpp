#include "troupe/nodes/log.hpp"

#include <mutex>
#include <unordered_map>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "troupe/nodes/observe/observatory.hpp"

namespace troupe::log {

namespace {

std::shared_ptr<spdlog::logger> make_logger(const std::string& name) {
  auto logger = spdlog::stderr_color_mt("troupe:" + name);
  logger->set_pattern("%H:%M:%S.%e %^%-5l%$ [%n] %v");
  return logger;
}

std::mutex logger_mutex;
std::shared_ptr<spdlog::logger> current;

}  // namespace

bool init(const std::string& node_name, const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return false;
  std::lock_guard<std::mutex> guard{logger_mutex};
  spdlog::drop("troupe:" + node_name);
  current = make_logger(node_name);
  current->set_level(lvl);
  current->flush_on(spdlog::level::warn);
  return true;
}

spdlog::logger& get() {
  std::lock_guard<std::mutex> guard{logger_mutex};
  if (!current) {
    current = make_logger("troupe");
    current->set_level(spdlog::level::warn);
  }
  return *current;
}

namespace {

struct rejection {
  std::chrono::steady_clock::time_point last{};
  size_t held_back = 0;
};

std::mutex rejections_mutex;
std::unordered_map<std::string, rejection> rejections;

}  // namespace

void forget_rejections() {
  std::lock_guard<std::mutex> guard{rejections_mutex};
  rejections.clear();
}

void rejected(std::string_view what, const std::string& detail, std::chrono::seconds interval) {
  if (auto* obs = observe::observatory::active())
    obs->rejected(what);
  auto& mtx = rejections_mutex;
  auto& entries = rejections;
  auto now = std::chrono::steady_clock::now();
  size_t held_back = 0;
  {
    std::lock_guard<std::mutex> guard{mtx};
    auto& e = entries[std::string{what}];
    if (e.last != std::chrono::steady_clock::time_point{} && now - e.last < interval) {
      ++e.held_back;
      return;
    }
    e.last = now;
    held_back = e.held_back;
    e.held_back = 0;
  }
  if (held_back > 0)
    get().warn("rejected {}: {} ({} more like it since the last report)", what, detail, held_back);
  else
    get().warn("rejected {}: {}", what, detail);
}

void route_protobuf_messages() {
  static std::once_flag once;
  std::call_once(once, [] {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel level, const char*, int, const std::string& message) {
          if (level >= google::protobuf::LOGLEVEL_ERROR)
            rejected("protobuf input", message);
        });
  });
}

}  // namespace troupe::log
