// hosts_bench: the head and the worker nodes of bench/hosts_scale.py (issue 15, "Scale"): many
// small worker nodes on other hosts joining one head over TCP. The same binary is both: with
// --join it is a worker node (troupe::run serves the pool's tasks), with --listen it is the head,
// and the head does what the driver writes on its stdin, one command a line, answering each
// with one JSON line on stdout:
//
//   wait N SECONDS     until N workers are ready in the pool: {"ready": N, "ok": true, "at": T}
//                      (T: CLOCK_MONOTONIC seconds, the clock the driver reads too)
//   map N              pool.map of N tiny tasks (x*x, automatic chunking), after an untimed one:
//                      the median of 3, {"tasks_per_s": R}
//   render W H ITERS   the mandelbrot demo's tiles over the pool, as the demo renders them:
//                      {"seconds": S, "hash": "<FNV-1a of the image>"}
//   local W H ITERS    the same image in this process, for the hash to compare with
//   quit               ends the head (its workers see it finish and exit with status 0)
//
// The driver measures the head's CPU and memory from /proc itself, around these commands: the
// head does nothing between them, so an idle window between commands is an idle head.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "troupe/examples/mandelbrot/render.hpp"
#include "troupe/nodes/pool/process_pool.hpp"
#include "troupe/nodes/run.hpp"

namespace {

int64_t square(int64_t x) {
  return x * x;
}

double monotonic_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double seconds_since(double start) {
  return monotonic_seconds() - start;
}

uint64_t fnv1a(const std::string& bytes) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string hex(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

void answer(const std::string& json) {
  std::cout << json << std::endl;
}

void answer_error(const std::string& what) {
  std::string quoted;
  for (char c : what)
    quoted += (c == '"' || c == '\\') ? std::string{"\\"} + c : std::string{c};
  answer("{\"error\": \"" + quoted + "\"}");
}

std::vector<mandelbrot::TileRequest> tiles_of(uint32_t width, uint32_t height,
                                              uint32_t iterations) {
  mandelbrot::view v;
  v.width = width;
  v.height = height;
  v.max_iterations = iterations;
  return mandelbrot::make_tiles(v, 4);  // the demo's default band of 4 rows
}

// Places one band into the image after checking it is exactly the band that was asked for.
bool place(std::string& image, const mandelbrot::TileRequest& asked,
           const mandelbrot::TileResult& tile) {
  if (!mandelbrot::result_error(asked, tile).empty())
    return false;
  image.replace(size_t{asked.row_begin()} * asked.width() * 3, tile.rgb().size(), tile.rgb());
  return true;
}

void render(troupe::process_pool* pool, uint32_t width, uint32_t height, uint32_t iterations) {
  auto tiles = tiles_of(width, height, iterations);
  std::string image(size_t{width} * height * 3, '\0');
  auto start = monotonic_seconds();
  size_t next = 0;
  if (pool) {
    for (auto& band : pool->imap(mandelbrot::render_tile, tiles, 1))
      if (!place(image, tiles[next++], band))
        return answer_error("a worker returned a bad tile");
  } else {
    for (auto& tile : tiles)
      place(image, tile, mandelbrot::render_tile(tile));
  }
  auto elapsed = seconds_since(start);
  answer("{\"seconds\": " + std::to_string(elapsed) + ", \"hash\": \"" + hex(fnv1a(image)) + "\"}");
}

void map_tiny(troupe::process_pool& pool, size_t n) {
  std::vector<int64_t> inputs(n);
  std::iota(inputs.begin(), inputs.end(), 0);
  // An untimed map of the same size first: the first large map of a pool pays for buffers
  // growing and every new node's first batches, which is joining, not dispatch.
  pool.map(square, inputs);
  std::vector<double> rates;
  for (int i = 0; i < 3; ++i) {
    auto start = monotonic_seconds();
    auto out = pool.map(square, inputs);
    auto elapsed = seconds_since(start);
    auto last = static_cast<int64_t>(n) - 1;
    if (out.size() != n || out.back() != last * last)
      return answer_error("pool.map returned a wrong result");
    rates.push_back(static_cast<double>(n) / elapsed);
  }
  std::sort(rates.begin(), rates.end());
  answer("{\"tasks_per_s\": " + std::to_string(rates[1]) + "}");
}

int run_head(troupe::node& node, const troupe::head_options& head) {
  if (head.listen.empty()) {
    std::cerr << "error: hosts_bench is a head (--workers 0 --listen ADDR:PORT, commands on "
                 "stdin) or a worker node (--join HOST:PORT)\n";
    return 2;
  }
  troupe::pool_options opts;
  opts.workers = 0;  // only the nodes that join
  troupe::process_pool pool{node, opts};
  answer("{\"listening\": " + std::to_string(head.listen_port) + "}");
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in{line};
    std::string command;
    in >> command;
    try {
      if (command == "wait") {
        size_t n = 0;
        unsigned seconds = 0;
        in >> n >> seconds;
        bool ok = pool.wait_for_workers(n, std::chrono::seconds{seconds});
        auto at = monotonic_seconds();
        answer("{\"ready\": " + std::to_string(pool.stats().workers)
               + ", \"ok\": " + (ok ? "true" : "false") + ", \"at\": " + std::to_string(at) + "}");
      } else if (command == "map") {
        size_t n = 0;
        in >> n;
        map_tiny(pool, n);
      } else if (command == "render" || command == "local") {
        uint32_t width = 0, height = 0, iterations = 0;
        in >> width >> height >> iterations;
        render(command == "render" ? &pool : nullptr, width, height, iterations);
      } else if (command == "quit") {
        return 0;
      } else {
        answer_error("unknown command: " + line);
      }
    } catch (const std::exception& e) {
      answer_error(e.what());
    }
  }
  return 0;  // the driver went away
}

}  // namespace

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "hosts_bench";
  prog.description = "Head and worker nodes of bench/hosts_scale.py (commands on stdin).";
  prog.setup = [](troupe::config& cfg) {
    cfg.add_messages<mandelbrot::TileRequest, mandelbrot::TileResult>();
    cfg.tasks().add("mandelbrot.tile", mandelbrot::render_tile);
    cfg.tasks().add("square", square);
  };
  prog.main = run_head;
  return troupe::run(argc, argv, prog);
}
