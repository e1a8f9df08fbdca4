// mandelbrot: troupe's main demo. The head renders the Mandelbrot set by spreading bands of
// rows over worker processes (--workers N, default one per core) or over worker nodes joining
// over TCP (--listen on the head, --join on the workers); --workers 0 renders in-process.
// The PNG is byte-identical whichever way it was rendered, even if workers die mid-render.
// Run: build/examples/mandelbrot --compare
#include <chrono>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include "png.hpp"
#include "progress.hpp"
#include "render.hpp"
#include "troupe/nodes/pool/process_pool.hpp"
#include "troupe/nodes/run.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

struct settings {
  mandelbrot::view view;
  std::string region;
  uint32_t rows_per_tile = 4;
  std::string out = "mandelbrot.png";
  bool compare = false;
  size_t min_workers = 1;
  unsigned wait_s = 60;
};

settings opts;

void add_options(troupe::flags& f) {
  f.option("--width", opts.view.width, "image width in pixels").range(1, mandelbrot::max_side);
  f.option("--height", opts.view.height, "image height in pixels").range(1, mandelbrot::max_side);
  f.option("-i,--iterations", opts.view.max_iterations,
           "iterations before a point counts as inside")
      .range(1, mandelbrot::max_iterations_limit);
  f.option("--region", opts.region, "x_min,x_max,y_min,y_max of the complex plane");
  f.option("--rows-per-tile", opts.rows_per_tile, "rows in one task")
      .range(1, mandelbrot::max_side);
  f.option("-o,--out", opts.out, "PNG file to write");
  f.flag("--compare", opts.compare, "also render in-process and print the speedup");
  f.option("--min-workers", opts.min_workers,
           "with --workers 0 and --listen: TCP workers to wait for before rendering");
  f.option("--wait-workers", opts.wait_s, "seconds to wait for workers");
}

// A tile that is not exactly the band that was asked for (a broken or hostile worker).
struct bad_tile : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Copies the answer to `asked` into the image; throws bad_tile, before touching the image, if
// it is not exactly that band: the bytes came from another process.
void place(std::string& image, const mandelbrot::TileRequest& asked,
           const mandelbrot::TileResult& tile) {
  if (auto bad = mandelbrot::result_error(asked, tile); !bad.empty())
    throw bad_tile{"a worker returned a bad tile: " + bad};
  std::memcpy(image.data() + size_t{asked.row_begin()} * asked.width() * 3, tile.rgb().data(),
              tile.rgb().size());
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Renders every tile in this process.
double render_here(const std::vector<mandelbrot::TileRequest>& tiles, std::string& image,
                   bool show_progress) {
  auto start = clock_type::now();
  mandelbrot::progress bar{tiles.size()};
  for (auto& tile : tiles) {
    place(image, tile, mandelbrot::render_tile(tile));
    if (show_progress)
      bar.advance();
  }
  if (show_progress)
    bar.finish();
  return seconds_since(start);
}

// Renders every tile on the pool's workers. Every tile is in flight at once; imap yields the
// bands in the order of `tiles` as soon as each is there, so each is checked against the very
// request it answers before it is placed.
double render_on_pool(troupe::process_pool& pool, const std::vector<mandelbrot::TileRequest>& tiles,
                      std::string& image) {
  auto start = clock_type::now();
  mandelbrot::progress bar{tiles.size()};
  size_t next = 0;
  for (auto& band : pool.imap(mandelbrot::render_tile, tiles, 1)) {
    place(image, tiles[next++], band);
    bar.advance();
  }
  bar.finish();
  return seconds_since(start);
}

int run_head(troupe::node& node, const troupe::head_options& head) {
  auto& v = opts.view;
  if (!opts.region.empty() && !mandelbrot::parse_region(opts.region, v)) {
    std::cerr << "error: --region expects finite x_min,x_max,y_min,y_max with min < max\n";
    return 2;
  }
  auto tiles = mandelbrot::make_tiles(v, opts.rows_per_tile);
  std::string image(size_t{v.width} * v.height * 3, '\0');
  bool distributed = head.workers > 0 || !head.listen.empty();
  std::cout << "mandelbrot: " << v.width << "x" << v.height << ", " << v.max_iterations
            << " iterations, " << tiles.size() << " tiles" << std::endl;
  double elapsed = 0;
  if (!distributed) {
    std::cout << "rendering in-process" << std::endl;
    elapsed = render_here(tiles, image, true);
  } else {
    troupe::process_pool pool{node, {.workers = head.workers}};
    size_t needed = head.workers > 0 ? head.workers : opts.min_workers;
    if (!head.listen.empty())
      std::cout << "listening on port " << head.listen_port << " for worker nodes" << std::endl;
    if (!pool.wait_for_workers(needed, std::chrono::seconds{opts.wait_s})) {
      std::cerr << "error: fewer than " << needed << " workers ready after " << opts.wait_s << " s"
                << std::endl;
      return 1;
    }
    std::cout << "rendering on " << pool.stats().workers << " worker processes" << std::endl;
    try {
      elapsed = render_on_pool(pool, tiles, image);
    } catch (const std::runtime_error& e) {  // a task that failed (task_error) or a bad_tile
      std::cerr << "error: " << e.what() << std::endl;
      return 1;
    }
    auto stats = pool.stats();
    std::cout << "tiles per worker:";
    for (auto& [name, count] : stats.items_per_worker)
      std::cout << " " << name << "=" << count;
    std::cout << std::endl;
    if (stats.worker_deaths > 0)
      std::cout << "workers lost: " << stats.worker_deaths
                << ", tiles re-dispatched: " << stats.redispatched
                << ", workers respawned: " << stats.respawned << std::endl;
  }
  std::printf("rendered in %.3f s (%.1f tiles/s)\n", elapsed, tiles.size() / elapsed);
  if (auto err = mandelbrot::write_png(opts.out, v.width, v.height, image); !err.empty()) {
    std::cerr << "error: " << err << std::endl;
    return 1;
  }
  std::cout << "wrote " << opts.out << std::endl;
  if (opts.compare && distributed) {
    std::string local(image.size(), '\0');
    double alone = render_here(tiles, local, false);
    std::printf("in-process render: %.3f s; speedup %.2fx (%s)\n", alone, alone / elapsed,
                local == image ? "images identical" : "IMAGES DIFFER");
    if (local != image)
      return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "mandelbrot";
  prog.description = "Renders the Mandelbrot set over worker processes and writes a PNG.";
  prog.setup = [](troupe::config& cfg) {
    cfg.add_messages<mandelbrot::TileRequest, mandelbrot::TileResult>();
    cfg.tasks().add("mandelbrot.tile", mandelbrot::render_tile);
  };
  prog.options = add_options;
  prog.main = run_head;
  return troupe::run(argc, argv, prog);
}
