// Task failures as errors: make_task_failure keeps the exception's type, throw_error rethrows
// the standard family as itself with its message and anything else as troupe::task_error.
#include <gtest/gtest.h>

#include <any>
#include <functional>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <variant>

#include "troupe/actors/future.hpp"
#include "troupe/messages/error.hpp"
#include "troupe/messages/exceptions.hpp"

namespace {

// Throws E on the "worker", records it as a task would, rethrows it on the "head".
template <class E>
void expect_rethrown_as_itself(E original) {
  caf::error err;
  try {
    throw original;
  } catch (const std::exception& ex) {
    err = troupe::make_task_failure(troupe::exception_type_name(ex), ex.what(), "task t, item 0");
  }
  try {
    troupe::throw_error(err);
  } catch (const E& back) {
    EXPECT_EQ(typeid(back), typeid(E)) << troupe::type_name<E>();
    EXPECT_STREQ(back.what(), original.what());
    return;
  } catch (...) {
    ADD_FAILURE() << troupe::type_name<E>() << " came back as "
                  << troupe::current_exception_type_name();
  }
}

TEST(Error, TheStandardFamilyIsRethrownAsItselfWithItsMessage) {
  expect_rethrown_as_itself(std::runtime_error("runtime"));
  expect_rethrown_as_itself(std::logic_error("logic"));
  expect_rethrown_as_itself(std::invalid_argument("invalid"));
  expect_rethrown_as_itself(std::out_of_range("out of range"));
  expect_rethrown_as_itself(std::domain_error("domain"));
  expect_rethrown_as_itself(std::length_error("length"));
  expect_rethrown_as_itself(std::range_error("range"));
  expect_rethrown_as_itself(std::overflow_error("overflow"));
  expect_rethrown_as_itself(std::underflow_error("underflow"));
  expect_rethrown_as_itself(std::bad_alloc());
  expect_rethrown_as_itself(std::bad_cast());
  expect_rethrown_as_itself(std::bad_optional_access());
  expect_rethrown_as_itself(std::bad_variant_access());
  expect_rethrown_as_itself(std::bad_function_call());
  expect_rethrown_as_itself(std::bad_any_cast());
}

struct my_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

TEST(Error, OtherTypesArriveAsTaskErrorNamingTheType) {
  my_error original("mine");
  auto err = troupe::make_task_failure(troupe::exception_type_name(original), original.what(),
                                       "task t, item 3");
  try {
    troupe::throw_error(err);
    FAIL() << "throw_error returned";
  } catch (const troupe::task_error& ex) {
    std::string what = ex.what();
    EXPECT_NE(what.find("(anonymous namespace)::my_error: mine"), std::string::npos) << what;
    EXPECT_NE(what.find("task t, item 3"), std::string::npos) << what;
    auto info = troupe::task_failure_of(ex.error());
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->type, "(anonymous namespace)::my_error");
    EXPECT_EQ(info->what, "mine");
  }
}

TEST(Error, ErrorsThatAreNotTaskFailuresAreTaskErrors) {
  EXPECT_THROW(troupe::throw_error(troupe::make_error(troupe::errc::worker_lost, "w1")),
               troupe::task_error);
  // The one-string form the pool sent before types were recorded.
  EXPECT_THROW(troupe::throw_error(troupe::make_error(troupe::errc::task_failed, "boom")),
               troupe::task_error);
  EXPECT_FALSE(troupe::task_failure_of(troupe::make_error(troupe::errc::task_failed, "boom")));
}

TEST(Error, DescribeShowsTypeMessageAndContext) {
  auto err = troupe::make_task_failure("std::out_of_range", "index 7", "task lookup, item 3");
  EXPECT_EQ(troupe::describe(err),
            "troupe: task_failed (std::out_of_range: index 7; task lookup, item 3)");
}

TEST(Error, ExceptionNamesAreExactTypes) {
  EXPECT_EQ(troupe::exception_type_name(std::out_of_range("x")), "std::out_of_range");
  EXPECT_EQ(troupe::exception_type_name(my_error("x")), "(anonymous namespace)::my_error");
  try {
    throw 42;
  } catch (...) {
    EXPECT_EQ(troupe::current_exception_type_name(), "int");
  }
}

}  // namespace
