// Live progress of the render: a bar with tiles/s on a terminal, a plain line every 10%
// otherwise (logs and CI stay readable).
#pragma once

#include <chrono>
#include <cstddef>

namespace mandelbrot {

class progress {
public:
  explicit progress(size_t total);
  void advance(size_t tiles = 1);
  /// Ends the bar's line.
  void finish();

private:
  void draw(bool force);

  size_t total_;
  size_t done_ = 0;
  bool tty_;
  size_t last_decile_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace mandelbrot
