// Runs every registered case (or those whose name contains one of the arguments) and ends with
// the line "N passed, N failed" that npm test adds to its own count. --list prints the names.
#include <cstring>
#include <exception>

#include "harness.h"

namespace genrm::test {

std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}

static int g_failures_in_case = 0;

void fail(const char* file, int line, const std::string& what) {
  ++g_failures_in_case;
  if (g_failures_in_case <= 10) std::printf("    %s:%d: %s\n", file, line, what.c_str());
}

}  // namespace genrm::test

int main(int argc, char** argv) {
  using namespace genrm::test;
  if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
    for (const Case& c : registry()) std::printf("%s\n", c.name);
    return 0;
  }
  int passed = 0, failed = 0;
  for (const Case& c : registry()) {
    bool chosen = argc == 1;
    // An argument selects the cases whose names contain it; "=name" selects that case alone.
    for (int i = 1; i < argc && !chosen; ++i)
      chosen = argv[i][0] == '=' ? std::strcmp(c.name, argv[i] + 1) == 0 : std::strstr(c.name, argv[i]) != nullptr;
    if (!chosen) continue;
    g_failures_in_case = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      fail(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    if (g_failures_in_case == 0) {
      ++passed;
      std::printf("  ok   %s\n", c.name);
    } else {
      ++failed;
      std::printf("  FAIL %s (%d checks failed)\n", c.name, g_failures_in_case);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
