#include "render.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace mandelbrot {

namespace {

// A 64-step palette from deep blue through white to orange, by integer arithmetic only.
std::array<uint8_t, 3> palette(uint32_t n) {
  static const std::array<std::array<uint8_t, 3>, 4> stops{
      {{{9, 1, 47}}, {{12, 44, 138}}, {{241, 233, 191}}, {{204, 128, 0}}}};
  uint32_t step = n % 64;
  uint32_t segment = step / 16;
  uint32_t within = step % 16;
  const auto& a = stops[segment];
  const auto& b = stops[(segment + 1) % 4];
  std::array<uint8_t, 3> rgb{};
  for (size_t c = 0; c < 3; ++c)
    rgb[c] = static_cast<uint8_t>((a[c] * (16 - within) + b[c] * within) / 16);
  return rgb;
}

uint32_t escape_time(double cr, double ci, uint32_t max_iterations) {
  double zr = 0, zi = 0;
  uint32_t n = 0;
  while (n < max_iterations) {
    double zr2 = zr * zr, zi2 = zi * zi;
    if (zr2 + zi2 > 4.0)
      break;
    zi = 2 * zr * zi + ci;
    zr = zr2 - zi2 + cr;
    ++n;
  }
  return n;
}

std::string rows_text(uint32_t begin, uint32_t end) {
  return "rows [" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

}  // namespace

std::string request_error(const TileRequest& t) {
  if (t.width() < 1 || t.width() > max_side || t.height() < 1 || t.height() > max_side)
    return "image size " + std::to_string(t.width()) + "x" + std::to_string(t.height())
           + " is outside 1.." + std::to_string(max_side);
  if (t.row_begin() >= t.row_end() || t.row_end() > t.height())
    return rows_text(t.row_begin(), t.row_end()) + " are not a band of an image of "
           + std::to_string(t.height()) + " rows";
  if (t.max_iterations() < 1 || t.max_iterations() > max_iterations_limit)
    return std::to_string(t.max_iterations()) + " iterations are outside 1.."
           + std::to_string(max_iterations_limit);
  if (!std::isfinite(t.x_min()) || !std::isfinite(t.x_max()) || !std::isfinite(t.y_min())
      || !std::isfinite(t.y_max()) || !(t.x_min() < t.x_max()) || !(t.y_min() < t.y_max()))
    return "the region is not finite with min < max";
  return {};
}

std::string result_error(const TileRequest& request, const TileResult& result) {
  if (auto bad = request_error(request); !bad.empty())
    return "the request itself is invalid: " + bad;
  if (result.row_begin() != request.row_begin() || result.row_end() != request.row_end())
    return "asked for " + rows_text(request.row_begin(), request.row_end()) + ", got "
           + rows_text(result.row_begin(), result.row_end());
  // A valid request bounds this product far below 2^64: no overflow.
  uint64_t expected = uint64_t{request.row_end() - request.row_begin()} * request.width() * 3;
  if (result.rgb().size() != expected)
    return rows_text(request.row_begin(), request.row_end()) + " need " + std::to_string(expected)
           + " bytes of RGB, got " + std::to_string(result.rgb().size());
  return {};
}

bool parse_region(const std::string& text, view& v) {
  return std::sscanf(text.c_str(), "%lf,%lf,%lf,%lf", &v.x_min, &v.x_max, &v.y_min, &v.y_max) == 4
         && std::isfinite(v.x_min) && std::isfinite(v.x_max) && std::isfinite(v.y_min)
         && std::isfinite(v.y_max) && v.x_min < v.x_max && v.y_min < v.y_max;
}

std::vector<TileRequest> make_tiles(const view& v, uint32_t rows_per_tile) {
  std::vector<TileRequest> tiles;
  for (uint32_t row = 0; row < v.height; row += rows_per_tile) {
    TileRequest t;
    t.set_width(v.width);
    t.set_height(v.height);
    t.set_x_min(v.x_min);
    t.set_x_max(v.x_max);
    t.set_y_min(v.y_min);
    t.set_y_max(v.y_max);
    t.set_max_iterations(v.max_iterations);
    t.set_row_begin(row);
    t.set_row_end(std::min(v.height, row + rows_per_tile));
    tiles.push_back(std::move(t));
  }
  return tiles;
}

TileResult render_tile(const TileRequest& t) {
  if (auto bad = request_error(t); !bad.empty())
    throw std::invalid_argument{"cannot render this tile: " + bad};
  TileResult out;
  out.set_row_begin(t.row_begin());
  out.set_row_end(t.row_end());
  auto* rgb = out.mutable_rgb();
  rgb->resize(size_t{t.row_end() - t.row_begin()} * t.width() * 3);
  size_t at = 0;
  double dx = (t.x_max() - t.x_min()) / t.width();
  double dy = (t.y_max() - t.y_min()) / t.height();
  for (uint32_t y = t.row_begin(); y < t.row_end(); ++y) {
    double ci = t.y_max() - (y + 0.5) * dy;
    for (uint32_t x = 0; x < t.width(); ++x) {
      double cr = t.x_min() + (x + 0.5) * dx;
      auto n = escape_time(cr, ci, t.max_iterations());
      std::array<uint8_t, 3> color{0, 0, 0};  // inside the set: black
      if (n < t.max_iterations())
        color = palette(n);
      for (auto c : color)
        (*rgb)[at++] = static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace mandelbrot
