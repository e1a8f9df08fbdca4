// The names channel errors give value types (nodes/ipc/value_type.hpp): as they are written,
// not as the compiler mangles or spells them.
#include "troupe/nodes/ipc/value_type.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using troupe::ipc::value_type_name;

TEST(ValueType, CommonTypesHaveTheirUsualNames) {
  EXPECT_EQ(value_type_name<std::string>(), "std::string");
  EXPECT_EQ(value_type_name<int64_t>(), "int64_t");
  EXPECT_EQ(value_type_name<uint32_t>(), "uint32_t");
  EXPECT_EQ(value_type_name<double>(), "double");
  EXPECT_EQ(value_type_name<std::vector<std::string>>(), "std::vector<std::string>");
}

TEST(ValueType, OtherTypesAreDemangledWithoutDefaultedArguments) {
  using table = std::map<std::string, std::vector<std::string>>;
  EXPECT_EQ(value_type_name<table>(), "std::map<std::string, std::vector<std::string>>");
  EXPECT_EQ(value_type_name<std::vector<float>>(), "std::vector<float>");
}

}  // namespace
