// Issue 11's acceptance program, built against the installed package: the tutorial's
// two-argument task and a container task through a process pool of 2 worker processes.
#include <iostream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "troupe/troupe.hpp"

std::string formatter(const std::string& a, int64_t b) {
  return a + " " + std::to_string(b);
}

std::map<std::string, int64_t> count_words(const std::vector<std::string>& words) {
  std::map<std::string, int64_t> counts;
  for (const auto& w : words)
    ++counts[w];
  return counts;
}

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "python_surface";
  prog.description = "issue 11's acceptance program";
  prog.setup = [](troupe::config& cfg) {
    cfg.tasks().add("formatter", formatter).add("count_words", count_words);
  };
  prog.main = [](troupe::node& node, const troupe::head_options&) {
    troupe::process_pool pool{node, {.workers = 2}};
    auto f = pool.submit(formatter, "Hello", 1);
    std::cout << "submit: " << f.result() << std::endl;
    auto print = [](const std::string& s) { std::cout << "callback: " << s << std::endl; };
    auto g = pool.apply_async(formatter, std::tuple{"Hello", 2}, print);
    g.result();
    auto v =
        pool.starmap(formatter, std::vector<std::tuple<std::string, int64_t>>{{"a", 1}, {"b", 2}});
    std::cout << "starmap:";
    for (const auto& s : v)
      std::cout << " " << s;
    std::cout << std::endl;
    auto m = pool.submit(count_words, std::vector<std::string>{"a", "b", "a"}).result();
    std::cout << "count_words:";
    for (const auto& [word, n] : m)
      std::cout << " " << word << "=" << n;
    std::cout << std::endl;
    pool.close();
    pool.join();
    return 0;
  };
  return troupe::run(argc, argv, prog);
}
