// sdk._kernels: the pybind11 module. Private; the public API is sdk.kernels (typed facade).
#include "common.h"
#include "sdk_kernels/kernels.h"

namespace sdk_py {
namespace {

py::dict variants() {
  py::dict d;
  for (int i = 0; i < static_cast<int>(sdk_kernels::Op::Count); i++) {
    const auto op = static_cast<sdk_kernels::Op>(i);
    d[py::str(sdk_kernels::op_name(op))] = py::str(sdk_kernels::kernel_variant(op));
  }
  return d;
}

}  // namespace
}  // namespace sdk_py

PYBIND11_MODULE(_kernels, m) {
  namespace py = pybind11;
  m.doc() = "sdk._kernels: NEON pre/post-processing kernels (use sdk.kernels instead).";
  m.def("variants", &sdk_py::variants, "op name -> the kernel variant the dispatcher picked");
  m.def("cpu_isa", &sdk_kernels::cpu_isa, "'neon' or 'scalar'");
  m.def("force_scalar", &sdk_kernels::force_scalar, py::arg("on"),
        "Use the scalar reference for every op (tests, benchmarks)");
  sdk_py::register_preprocess(m);
  sdk_py::register_classify(m);
  sdk_py::register_detect(m);
  sdk_py::register_segment(m);
}
