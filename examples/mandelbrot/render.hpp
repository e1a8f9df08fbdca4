// Rendering the Mandelbrot set, one band of rows at a time: the CPU-bound task of the demo.
// Rows through the set cost up to max_iterations per pixel, rows far from it a few, so the
// bands differ in cost by orders of magnitude: dispatch has to balance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "troupe/examples/mandelbrot/tile.pb.h"

namespace mandelbrot {

using troupe::examples::mandelbrot::TileRequest;
using troupe::examples::mandelbrot::TileResult;

struct view {
  uint32_t width = 1280;
  uint32_t height = 800;
  double x_min = -2.2, x_max = 0.8, y_min = -0.9375, y_max = 0.9375;
  uint32_t max_iterations = 2000;
};

/// Parses "x_min,x_max,y_min,y_max"; false if malformed.
bool parse_region(const std::string& text, view& v);

/// Cuts the image into bands of `rows_per_tile` rows.
std::vector<TileRequest> make_tiles(const view& v, uint32_t rows_per_tile);

/// Renders one band. Deterministic: the same request gives the same bytes, on any node.
TileResult render_tile(const TileRequest& tile);

}  // namespace mandelbrot
