// Runs every registered case (or those whose name contains one of the arguments) and ends with
// the line "N passed, N failed" that npm test adds to its own count, after a line "N skipped"
// when cases could not run here. Arguments that select no case are a failure. --list prints the names.
#include <execinfo.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <exception>

#include "harness.h"

namespace genrm::test {

std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}

static int g_failures_in_case = 0;
static std::string g_skip_reason;

void fail(const char* file, int line, const std::string& what) {
  ++g_failures_in_case;
  if (g_failures_in_case <= 10) std::printf("    %s:%d: %s\n", file, line, what.c_str());
}

void skip(const std::string& why) {
  if (g_skip_reason.empty()) g_skip_reason = why;
}

}  // namespace genrm::test

namespace {

const char* g_running = nullptr;  // the case in progress, for the crash report

// A case that crashes names itself (and where it was) before the process dies:
// otherwise a fault in the middle of a group shows only as missing lines.
// Async-signal-safe calls only.
void on_fatal_signal(int sig) {
  const char* name = g_running ? g_running : "(between cases)";
  const char head[] = "  CRASH ";
  (void)!write(STDOUT_FILENO, head, sizeof head - 1);
  (void)!write(STDOUT_FILENO, name, std::strlen(name));
  const char tail[] = ": fatal signal; backtrace (addr2line -Cfe the harness to read it):\n";
  (void)!write(STDOUT_FILENO, tail, sizeof tail - 1);
  void* frames[48];
  backtrace_symbols_fd(frames, backtrace(frames, 48), STDOUT_FILENO);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace genrm::test;
  if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
    for (const Case& c : registry()) std::printf("%s\n", c.name.c_str());
    return 0;
  }
  // One line at a time, so a log cut short by a crash or a time-out still ends
  // at the last case that finished.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_fatal_signal);
  int passed = 0, failed = 0, skipped = 0, chosen_cases = 0;
  for (const Case& c : registry()) {
    bool chosen = argc == 1;
    // An argument selects the cases whose names contain it; "=name" selects that case alone.
    for (int i = 1; i < argc && !chosen; ++i)
      chosen = argv[i][0] == '=' ? c.name == argv[i] + 1 : c.name.find(argv[i]) != std::string::npos;
    if (!chosen) continue;
    ++chosen_cases;
    g_failures_in_case = 0;
    g_skip_reason.clear();
    g_running = c.name.c_str();
    try {
      c.fn();
    } catch (const std::exception& e) {
      fail(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    if (g_failures_in_case == 0 && !g_skip_reason.empty()) {
      ++skipped;
      std::printf("  skip %s (%s)\n", c.name.c_str(), g_skip_reason.c_str());
    } else if (g_failures_in_case == 0) {
      ++passed;
      std::printf("  ok   %s\n", c.name.c_str());
    } else {
      ++failed;
      std::printf("  FAIL %s (%d checks failed)\n", c.name.c_str(), g_failures_in_case);
    }
    g_running = nullptr;
  }
  if (chosen_cases == 0) {
    std::printf("  FAIL no case matches the arguments (--list shows the names)\n");
    ++failed;
  }
  if (skipped > 0) std::printf("%d skipped\n", skipped);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
