// The one parity check: a path against the op's reference on every check shape.
#include <cmath>
#include <cstring>

#include "../core/error.h"
#include "table.h"

namespace genrm::ops {
namespace {

float round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;  // nearest even
  std::memcpy(&x, &u, 4);
  return x;
}

Comparison compare(const std::string& shape, const std::string& output, const std::vector<float>& got,
                   const std::vector<float>& want, Tolerance tol) {
  Comparison c;
  c.shape = shape;
  c.output = output;
  if (got.size() != want.size()) throw_arg("output " + output + " of shape \"" + shape + "\"", want.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(double(got[i]) - want[i]);
    double e = diff == 0 ? 0 : diff / (tol.atol + tol.rtol * std::fabs(double(want[i])));  // exact ops: tolerance 0
    if (std::isnan(e)) e = INFINITY;                                                       // an unwritten (NaN) element
    if (e > c.worst_error || c.worst_index < 0) {
      c.worst_error = e;
      c.worst_index = static_cast<int64_t>(i);
      c.got = got[i];
      c.want = want[i];
    }
  }
  c.ok = c.worst_error <= 1;
  return c;
}

}  // namespace

std::vector<Comparison> check_path(const Op& op, const Path& path, uint32_t seed) {
  if (!path.available()) throw Error(ErrorKind::State, op.name + " path " + path.name + " cannot run on this machine");
  std::vector<Comparison> result;
  for (const Shape& shape : op.checks) {
    Problem p = op.make(shape, seed++);
    if (path.accepts && !path.accepts(p)) continue;
    for (const std::string& name : path.bf16_inputs)
      for (float& x : p.in.f(name)) x = round_bf16(x);
    Tensors want = p.out, got = p.out;
    op.reference(p, want);
    path.run(p, got);
    for (const auto& [name, values] : want.f32)
      result.push_back(compare(shape.label, name, got.f(name), values, path.tolerance));
  }
  return result;
}

}  // namespace genrm::ops
