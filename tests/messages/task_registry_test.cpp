// Tasks of any arity: task_traits for each kind of callable, registration and lookup by
// function, the worker's batch runner fed by the head's append_call, results read back, and
// exceptions recorded with their type.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "troupe/actors/future.hpp"
#include "troupe/messages/detail/task_call.hpp"
#include "troupe/messages/task_registry.hpp"

namespace {

using namespace std::string_literals;

std::string formatter(const std::string& a, int64_t b) {
  return a + " " + std::to_string(b);
}

std::map<std::string, int64_t> count_words(const std::vector<std::string>& words) {
  std::map<std::string, int64_t> counts;
  for (const auto& w : words)
    ++counts[w];
  return counts;
}

int64_t answer() noexcept {
  return 42;
}

void nothing(int32_t) {}

int64_t square(int64_t x) {
  return x * x;
}

struct scale {
  double operator()(double x, int32_t times) const {
    return x * times;
  }
};

struct custom_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// -- traits ---------------------------------------------------------------------------------------

static_assert(troupe::task_traits<decltype(&formatter)>::arity == 2);
static_assert(std::is_same_v<troupe::task_traits<decltype(&formatter)>::arguments,
                             std::tuple<std::string, int64_t>>);
static_assert(std::is_same_v<troupe::task_traits<decltype(&formatter)>::result, std::string>);
static_assert(troupe::task_traits<decltype(&answer)>::arity == 0);
static_assert(std::is_void_v<troupe::task_traits<decltype(&nothing)>::result>);
static_assert(troupe::task_traits<scale>::arity == 2);
static_assert(std::is_same_v<troupe::task_arguments_of<scale>, std::tuple<double, int32_t>>);
inline constexpr auto twice = [](int64_t x) { return 2 * x; };
static_assert(std::is_same_v<troupe::task_result_of<decltype(twice)>, int64_t>);
static_assert(!troupe::task_function<int>);
static_assert(!troupe::task_function<std::string>);
inline constexpr auto generic = [](auto x) { return x; };
static_assert(!troupe::task_function<decltype(generic)>);

// -- helpers --------------------------------------------------------------------------------------

struct batch {
  std::string results;
  std::vector<troupe::task_failure> failures;
  std::vector<std::string> records;
};

batch run(const troupe::task_registry& tasks, const std::string& name, const std::string& args) {
  batch b;
  const auto* entry = tasks.find(name);
  EXPECT_NE(entry, nullptr) << name;
  if (!entry)
    return b;
  entry->run(args, b.results, b.failures, nullptr);
  EXPECT_TRUE(troupe::items::read_items(b.results, [&](std::string_view r) {
    b.records.emplace_back(r);
    return true;
  }));
  return b;
}

template <class F, class... Args>
std::string call(Args&&... args) {
  std::string out;
  troupe::detail::append_call<F>(out, std::forward<Args>(args)...);
  return out;
}

// -- registry -------------------------------------------------------------------------------------

TEST(TaskRegistry, FindsTasksByNameByAddressAndByType) {
  troupe::task_registry tasks;
  tasks.add("formatter", formatter).add("twice", twice).add("scale", scale{});
  EXPECT_EQ(tasks.find(formatter)->name, "formatter");
  EXPECT_EQ(tasks.find(&formatter)->name, "formatter");
  EXPECT_EQ(tasks.find(twice)->name, "twice");
  EXPECT_EQ(tasks.find(scale{})->name, "scale");
  EXPECT_EQ(tasks.find("scale")->arity, 2u);
  EXPECT_EQ(tasks.find(square), nullptr);
  EXPECT_EQ(tasks.find([](int64_t x) { return x; }), nullptr) << "another lambda, another type";
  EXPECT_EQ(tasks.find_function(reinterpret_cast<const void*>(&formatter))->name, "formatter");
  EXPECT_EQ(tasks.find("formatter")->arguments, typeid(std::tuple<std::string, int64_t>));
  EXPECT_EQ(tasks.find("twice")->argument, typeid(int64_t)) << "one parameter: today's check";
}

TEST(TaskRegistry, ARegisteredAgainNameTakesTheNewFunction) {
  troupe::task_registry tasks;
  tasks.add("f", square).add("g", square).add("f", answer);
  EXPECT_EQ(tasks.find(square)->name, "g");
  EXPECT_EQ(tasks.find(answer)->name, "f");
  int64_t (*null)(int64_t) = nullptr;
  EXPECT_THROW(tasks.add("null", null), std::invalid_argument);
}

TEST(TaskRegistry, RunsTasksOfEveryArity) {
  troupe::task_registry tasks;
  tasks.add("formatter", formatter)
      .add("count_words", count_words)
      .add("answer", answer)
      .add("nothing", nothing)
      .add("scale", scale{});
  auto b = run(tasks, "formatter",
               call<decltype(&formatter)>("Hello", 1) + call<decltype(&formatter)>("x"s, -2));
  ASSERT_EQ(b.records.size(), 2u);
  EXPECT_TRUE(b.failures.empty());
  EXPECT_EQ(troupe::detail::decode_result<std::string>(b.records[0]), "Hello 1");
  EXPECT_EQ(troupe::detail::decode_result<std::string>(b.records[1]), "x -2");

  b = run(tasks, "count_words",
          call<decltype(&count_words)>(std::vector<std::string>{"a", "b", "a"}));
  ASSERT_EQ(b.records.size(), 1u);
  EXPECT_EQ((troupe::detail::decode_result<std::map<std::string, int64_t>>(b.records[0])),
            (std::map<std::string, int64_t>{{"a", 2}, {"b", 1}}));

  b = run(tasks, "answer", call<decltype(&answer)>());
  EXPECT_EQ(troupe::detail::decode_result<int64_t>(b.records.at(0)), 42);

  b = run(tasks, "nothing", call<decltype(&nothing)>(7));
  ASSERT_EQ(b.records.size(), 1u);
  EXPECT_EQ(b.records[0], "") << "void: an empty record";
  EXPECT_TRUE(troupe::detail::result_parses<void>(b.records[0]));

  b = run(tasks, "scale", call<scale>(1.5, 4));
  EXPECT_EQ(troupe::detail::decode_result<double>(b.records.at(0)), 6.0);
}

TEST(TaskRegistry, OneArgumentCallsKeepTodaysBytes) {
  // An Items record holding Int64Value / StringValue: what one-argument calls have always sent.
  EXPECT_EQ(call<decltype(&square)>(300), "\x0a\x03\x08\xac\x02"s);
  EXPECT_EQ(call<decltype(&square)>(0), "\x0a\x00"s);
  EXPECT_EQ(call<std::string (*)(std::string)>("hi"), "\x0a\x04\x0a\x02hi"s);
  std::string result;
  troupe::items::append_value(result, int64_t{-1});
  EXPECT_EQ(result, "\x0a\x0b\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s);
}

TEST(TaskRegistry, ArgumentsConvertLikeACallWhereItIsSafe) {
  using F = decltype(&formatter);
  EXPECT_EQ(call<F>("a", 1), call<F>("a"s, int64_t{1}));
  static_assert(troupe::detail::converts_safely<int64_t, int>());
  static_assert(troupe::detail::converts_safely<double, float>());
  static_assert(troupe::detail::converts_safely<std::string, const char*>());
  static_assert(troupe::detail::converts_safely<std::tuple<std::string, int64_t>,
                                                std::tuple<const char*, int>>());
  static_assert(!troupe::detail::converts_safely<int32_t, int64_t>(), "narrowing");
  static_assert(!troupe::detail::converts_safely<int64_t, double>(), "narrowing");
  static_assert(!troupe::detail::converts_safely<bool, int>(), "narrowing");
  static_assert(!troupe::detail::converts_safely<std::tuple<int32_t>, std::tuple<int64_t>>());
  static_assert(!troupe::detail::converts_safely<std::optional<int32_t>, std::optional<int64_t>>());
  static_assert(!troupe::detail::converts_safely<std::vector<int64_t>, std::vector<int>>());
  static_assert(!troupe::detail::converts_safely<std::string, int>());
}

TEST(TaskRegistry, ExceptionsAreRecordedWithTheirType) {
  troupe::task_registry tasks;
  tasks.add("out_of_range",
            [](int64_t i) -> int64_t { throw std::out_of_range("index " + std::to_string(i)); });
  tasks.add("custom", [](int64_t) -> int64_t { throw custom_error("mine"); });
  tasks.add("int", [](int64_t) -> int64_t { throw 42; });
  using F = int64_t (*)(int64_t);
  auto b = run(tasks, "out_of_range", call<F>(1) + call<F>(2));
  ASSERT_EQ(b.failures.size(), 2u);
  EXPECT_EQ(b.failures[1].index, 1u);
  EXPECT_EQ(b.failures[1].type, "std::out_of_range");
  EXPECT_EQ(b.failures[1].message, "index 2");
  EXPECT_EQ(b.records, (std::vector<std::string>{"", ""})) << "a failed item's slot is empty";
  b = run(tasks, "custom", call<F>(1));
  EXPECT_EQ(b.failures.at(0).type, "(anonymous namespace)::custom_error");
  b = run(tasks, "int", call<F>(1));
  EXPECT_EQ(b.failures.at(0).type, "int");
}

TEST(TaskRegistry, ArgumentsThatDoNotParseFailTheirItemOnly) {
  troupe::task_registry tasks;
  tasks.add("formatter", formatter);
  std::string args;
  troupe::items::append_with(args, [](std::string& body) {
    body +=
        "\x0a\x05"
        "ab"s;
  });
  args += call<decltype(&formatter)>("ok", 2);
  auto b = run(tasks, "formatter", args);
  ASSERT_EQ(b.failures.size(), 1u);
  EXPECT_EQ(b.failures[0].index, 0u);
  EXPECT_EQ(b.failures[0].type, "");
  EXPECT_NE(b.failures[0].message.find("do not parse"), std::string::npos);
  ASSERT_EQ(b.records.size(), 2u);
  EXPECT_EQ(troupe::detail::decode_result<std::string>(b.records[1]), "ok 2");
  b = run(tasks, "formatter", "\x0a\x09"s);
  EXPECT_EQ(b.failures.at(0).message, "malformed argument bytes");
}

TEST(TaskRegistry, AResultThatDoesNotParseIsRefused) {
  EXPECT_FALSE(troupe::detail::result_parses<int64_t>("\x0a\x01x"s));
  EXPECT_FALSE(troupe::detail::result_parses<void>("\x0a"s));
  EXPECT_TRUE(troupe::detail::result_parses<int64_t>(""));
  EXPECT_THROW(troupe::detail::decode_result<std::string>("\x0a\x05"
                                                          "ab"s),
               troupe::task_error);
}

}  // namespace
