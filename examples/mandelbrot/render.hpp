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

/// Bounds of what one image may ask for (the command line's ranges, and what a worker accepts).
constexpr uint32_t max_side = 20000;
constexpr uint32_t max_iterations_limit = 1000000;

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

/// Why `request` is not a band of a renderable image, or empty if it is. A worker gets its
/// requests from another process: a broken or hostile head must not make it allocate gigabytes
/// or divide by zero.
std::string request_error(const TileRequest& request);

/// Why `result` is not the answer to `request`, or empty if it is: exactly the requested rows,
/// with exactly (row_end - row_begin) * width * 3 bytes. The result came from another process;
/// the head places nothing in its image that fails this check.
std::string result_error(const TileRequest& request, const TileResult& result);

/// Renders one band. Deterministic: the same request gives the same bytes, on any node.
/// Throws std::invalid_argument (request_error) for a request that is not a band of an image.
TileResult render_tile(const TileRequest& tile);

}  // namespace mandelbrot
