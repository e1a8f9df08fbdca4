// Writing the image as PNG (libpng), byte for byte the same for the same pixels: no time
// stamp, fixed compression settings.
#pragma once

#include <cstdint>
#include <string>

namespace mandelbrot {

/// Writes 8-bit RGB rows; returns an error message, empty on success.
std::string write_png(const std::string& path, uint32_t width, uint32_t height,
                      const std::string& rgb);

}  // namespace mandelbrot
