// A minimal test harness for the engine's C++ tests (no Node, no dependencies).
// TEST(name) registers a case; CHECK/CHECK_NEAR record failures and continue;
// skip(why) marks a case that cannot run here (it is counted as skipped, not passed).
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace genrm::test {

struct Case {
  std::string name;
  std::function<void()> fn;
};

std::vector<Case>& registry();
void fail(const char* file, int line, const std::string& what);
// The running case cannot run on this machine (the caller then returns).
void skip(const std::string& why);

struct Register {
  Register(std::string name, std::function<void()> fn) { registry().push_back({std::move(name), std::move(fn)}); }
};

}  // namespace genrm::test

#define GENRM_CAT2(a, b) a##b
#define GENRM_CAT(a, b) GENRM_CAT2(a, b)
#define TEST(name)                                                                     \
  static void GENRM_CAT(test_, name)();                                                \
  static ::genrm::test::Register GENRM_CAT(reg_, name)(#name, GENRM_CAT(test_, name)); \
  static void GENRM_CAT(test_, name)()

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) ::genrm::test::fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define CHECK_THROWS(expr)                                                            \
  do {                                                                                \
    bool threw_ = false;                                                              \
    try {                                                                             \
      expr;                                                                           \
    } catch (const std::exception&) {                                                 \
      threw_ = true;                                                                  \
    }                                                                                 \
    if (!threw_) ::genrm::test::fail(__FILE__, __LINE__, "expected a throw: " #expr); \
  } while (0)
