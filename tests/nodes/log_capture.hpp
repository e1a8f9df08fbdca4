// Captures what this process's troupe logger writes, so tests can check that rejections are
// logged (and rate-limited).
#pragma once

#include <algorithm>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>

#include "troupe/nodes/log.hpp"

namespace troupe::test {

class log_capture {
public:
  log_capture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    log::forget_rejections();
    log::get().set_level(spdlog::level::info);
    log::get().sinks().push_back(sink_);
  }
  ~log_capture() {
    auto& sinks = log::get().sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string text() {
    log::get().flush();
    return out_.str();
  }
  /// Waits (bounded) until the log holds `needle`: the node may log after the test's action.
  bool wait_for(const std::string& needle) {
    for (int i = 0; i < 500; ++i) {
      if (text().find(needle) != std::string::npos)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return false;
  }
  size_t count(const std::string& needle) {
    auto all = text();
    size_t n = 0;
    for (auto at = all.find(needle); at != std::string::npos; at = all.find(needle, at + 1))
      ++n;
    return n;
  }

private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

}  // namespace troupe::test
