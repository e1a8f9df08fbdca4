// The size of a connection's socket reads follows its traffic (wire/read_size.hpp).
#include <gtest/gtest.h>

#include "troupe/nodes/wire/read_size.hpp"

namespace {

using troupe::wire::read_size;

TEST(ReadSize, StartsSmallAndDoublesWhileReadsFillIt) {
  read_size size;
  EXPECT_EQ(size.bytes(), read_size::smallest);
  EXPECT_TRUE(size.after_read(read_size::smallest));
  EXPECT_EQ(size.bytes(), 2 * read_size::smallest);
  while (size.after_read(size.bytes())) {
  }
  EXPECT_EQ(size.bytes(), read_size::largest) << "a stream reads in the largest size";
  EXPECT_FALSE(size.after_read(size.bytes())) << "and no larger";
}

TEST(ReadSize, HalvesWhenReadsBringLittleDownToTheSmallest) {
  read_size size;
  while (size.after_read(size.bytes())) {
  }
  EXPECT_TRUE(size.after_read(34));
  EXPECT_EQ(size.bytes(), read_size::largest / 2);
  while (size.after_read(34)) {
  }
  EXPECT_EQ(size.bytes(), read_size::smallest);
}

TEST(ReadSize, KeepsItsSizeForReadsThatUseAFairShareOfIt) {
  read_size size;
  while (size.after_read(size.bytes())) {
  }
  // A stream whose reads take a third of the buffer: halving would make them fill it, and
  // doubling back would follow (a size that flaps costs a reconfiguration per read).
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(size.after_read(read_size::largest / 3));
  EXPECT_FALSE(size.after_read(read_size::largest / 8)) << "an eighth is still a fair share";
  EXPECT_EQ(size.bytes(), read_size::largest);
}

}  // namespace
