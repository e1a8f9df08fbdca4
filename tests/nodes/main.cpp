// The node tests' main: the same binary is the gtest runner, a worker process started by a
// test, and (with "head-for-test") a head for the tests that kill heads.
#include <cstring>

#include <gtest/gtest.h>

#include "test_program.hpp"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--troupe-worker-fd") == 0 || std::strcmp(argv[i], "--join") == 0)
      return troupe::run(argc, argv, troupe::test::make_program());
  if (argc > 1 && std::strcmp(argv[1], "head-for-test") == 0)
    return troupe::run(argc - 1, argv + 1, troupe::test::make_program());
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
