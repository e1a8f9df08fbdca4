#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace mandelbrot {

progress::progress(size_t total)
    : total_(total), tty_(isatty(STDOUT_FILENO) == 1), start_(std::chrono::steady_clock::now()) {}

void progress::advance(size_t tiles) {
  done_ += tiles;
  draw(false);
}

void progress::finish() {
  draw(true);
  if (tty_)
    std::printf("\n");
  std::fflush(stdout);
}

void progress::draw(bool force) {
  auto now = std::chrono::steady_clock::now();
  double seconds = std::chrono::duration<double>(now - start_).count();
  double rate = seconds > 0 ? done_ / seconds : 0.0;
  if (tty_) {
    if (!force && now - last_draw_ < std::chrono::milliseconds{50} && done_ != total_)
      return;
    last_draw_ = now;
    constexpr int width = 40;
    int filled = total_ ? static_cast<int>(width * done_ / total_) : width;
    std::printf("\r[%.*s%*s] %zu/%zu tiles  %.1f tiles/s", filled,
                "########################################", width - filled, "", done_, total_,
                rate);
    std::fflush(stdout);
    return;
  }
  size_t decile = total_ ? 10 * done_ / total_ : 10;
  if (decile > last_decile_ || (force && done_ == total_ && last_decile_ < 10)) {
    last_decile_ = decile;
    std::printf("progress: %zu/%zu tiles (%.1f tiles/s)\n", done_, total_, rate);
    std::fflush(stdout);
  }
}

}  // namespace mandelbrot
