// The mandelbrot demo's checks of what another process sends: a head places a worker's tile
// only if it is exactly the band it asked for, and a worker renders only bands of a sane image.
// Each hostile value here overflowed the head's image (or made a worker allocate without limit)
// before the checks existed.
#include <limits>
#include <stdexcept>

#include <gtest/gtest.h>

#include "troupe/examples/mandelbrot/render.hpp"

namespace {

using mandelbrot::TileRequest;
using mandelbrot::TileResult;

TileRequest band(uint32_t row_begin, uint32_t row_end) {
  mandelbrot::view v;
  v.width = 64;
  v.height = 40;
  v.max_iterations = 50;
  auto tiles = mandelbrot::make_tiles(v, row_end - row_begin);
  for (auto& t : tiles)
    if (t.row_begin() == row_begin)
      return t;
  throw std::logic_error("no such band");
}

TEST(MandelbrotTile, ARenderedBandIsTheAnswerToItsRequest) {
  auto asked = band(8, 12);
  auto tile = mandelbrot::render_tile(asked);
  EXPECT_EQ(mandelbrot::result_error(asked, tile), "");
  EXPECT_EQ(tile.rgb().size(), size_t{4} * 64 * 3);
}

TEST(MandelbrotTile, ARowBeginFarOutsideTheImageIsRefused) {
  auto asked = band(8, 12);
  auto tile = mandelbrot::render_tile(asked);
  tile.set_row_begin(2000000000);
  tile.set_row_end(2000000004);
  auto error = mandelbrot::result_error(asked, tile);
  EXPECT_NE(error.find("asked for rows [8, 12), got rows [2000000000, 2000000004)"),
            std::string::npos)
      << error;
}

TEST(MandelbrotTile, ANegativeRowSentAsUnsignedIsRefused) {
  auto asked = band(8, 12);
  auto tile = mandelbrot::render_tile(asked);
  tile.set_row_begin(static_cast<uint32_t>(-4));
  EXPECT_NE(mandelbrot::result_error(asked, tile), "");
}

TEST(MandelbrotTile, AnotherBandThanTheOneAskedForIsRefused) {
  // In bounds, the right size, but not the rows asked for: it would leave a hole in the image.
  auto asked = band(8, 12);
  auto other = mandelbrot::render_tile(band(12, 16));
  EXPECT_NE(mandelbrot::result_error(asked, other), "");
}

TEST(MandelbrotTile, RgbTooLongOrTooShortIsRefused) {
  auto asked = band(8, 12);
  auto tile = mandelbrot::render_tile(asked);
  auto longer = tile;
  longer.mutable_rgb()->append(4 * 1024 * 1024, '\xff');  // 4 MiB past the band
  auto error = mandelbrot::result_error(asked, longer);
  EXPECT_NE(error.find("need 768 bytes of RGB, got 4195072"), std::string::npos) << error;
  auto shorter = tile;
  shorter.mutable_rgb()->pop_back();
  EXPECT_NE(mandelbrot::result_error(asked, shorter), "");
  auto empty = tile;
  empty.clear_rgb();
  EXPECT_NE(mandelbrot::result_error(asked, empty), "");
}

TEST(MandelbrotTile, RgbSizedForAnotherWidthIsRefused) {
  auto asked = band(8, 12);
  auto tile = mandelbrot::render_tile(asked);
  tile.mutable_rgb()->resize(size_t{4} * 65 * 3);
  EXPECT_NE(mandelbrot::result_error(asked, tile), "");
}

TEST(MandelbrotTile, ReversedOrEmptyRowsAreRefused) {
  auto asked = band(8, 12);
  auto tile = mandelbrot::render_tile(asked);
  tile.set_row_begin(12);
  tile.set_row_end(8);
  EXPECT_NE(mandelbrot::result_error(asked, tile), "");
  tile.set_row_begin(8);
  tile.set_row_end(8);
  EXPECT_NE(mandelbrot::result_error(asked, tile), "");
}

TEST(MandelbrotTile, AWorkerRefusesRequestsThatAreNoBandOfASaneImage) {
  auto expect_refused = [](const TileRequest& t) {
    EXPECT_NE(mandelbrot::request_error(t), "");
    EXPECT_THROW(mandelbrot::render_tile(t), std::invalid_argument);
  };
  auto huge = band(0, 4);
  // rows * width * 3 would be about 5.5e19 bytes: more than 64 bits can count.
  huge.set_width(std::numeric_limits<uint32_t>::max());
  huge.set_height(std::numeric_limits<uint32_t>::max());
  huge.set_row_end(std::numeric_limits<uint32_t>::max());
  expect_refused(huge);
  auto no_width = band(0, 4);
  no_width.set_width(0);
  expect_refused(no_width);
  auto past_the_end = band(0, 4);
  past_the_end.set_row_end(41);
  expect_refused(past_the_end);
  auto reversed = band(8, 12);
  reversed.set_row_begin(12);
  reversed.set_row_end(8);
  expect_refused(reversed);
  auto endless = band(0, 4);
  endless.set_max_iterations(std::numeric_limits<uint32_t>::max());
  expect_refused(endless);
  auto no_region = band(0, 4);
  no_region.set_x_max(std::numeric_limits<double>::infinity());
  expect_refused(no_region);
  auto flipped = band(0, 4);
  flipped.set_y_min(flipped.y_max());
  expect_refused(flipped);
}

TEST(MandelbrotTile, AResultForAnInvalidRequestIsRefused) {
  auto asked = band(0, 4);
  auto tile = mandelbrot::render_tile(asked);
  asked.set_width(std::numeric_limits<uint32_t>::max());
  EXPECT_NE(mandelbrot::result_error(asked, tile), "");
}

TEST(MandelbrotRegion, NonFiniteRegionsAreRejected) {
  mandelbrot::view v;
  EXPECT_TRUE(mandelbrot::parse_region("-2,1,-1,1", v));
  EXPECT_FALSE(mandelbrot::parse_region("-inf,inf,-1,1", v));
  EXPECT_FALSE(mandelbrot::parse_region("nan,1,-1,1", v));
  EXPECT_FALSE(mandelbrot::parse_region("1,-2,-1,1", v));
}

}  // namespace
