// Typed errors thrown by the engine. The N-API layer turns each into a JS Error
// whose message names the argument, what was expected and what was found.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace genrm {

enum class ErrorKind { Argument, Range, State, Io, Runtime };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// Builds "<arg>: expected <expected>, got <actual>" messages from streamable parts.
template <typename E, typename A>
[[noreturn]] void throw_arg(const std::string& arg, const E& expected, const A& actual,
                            ErrorKind kind = ErrorKind::Argument) {
  std::ostringstream s;
  s << arg << ": expected " << expected << ", got " << actual;
  throw Error(kind, s.str());
}

}  // namespace genrm
