// Shared helpers of the bindings: numpy validation with messages that say expected vs got.
// Bindings only convert, validate and release the GIL around the work.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>

#include <string>

namespace sdk_py {

namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); i++) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

inline std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

[[noreturn]] inline void fail(const std::string& what, const std::string& expected,
                              const std::string& got) {
  throw py::value_error(what + ": expected " + expected + ", got " + got);
}

template <typename T>
inline void require_dtype(const py::array& a, const char* what, const char* name) {
  if (!py::isinstance<py::array_t<T>>(a) || !a.dtype().is(py::dtype::of<T>()))
    fail(what, std::string("dtype ") + name, "dtype " + dtype_str(a));
}

inline void require_ndim(const py::array& a, const char* what, py::ssize_t lo, py::ssize_t hi,
                         const std::string& expected) {
  if (a.ndim() < lo || a.ndim() > hi) fail(what, expected, "shape " + shape_str(a));
}

// Element-contiguous along the last `k` axes (row stride may be larger), positive strides.
inline void require_inner_contiguous(const py::array& a, const char* what, int k) {
  py::ssize_t expect = static_cast<py::ssize_t>(a.itemsize());
  for (int i = 0; i < k; i++) {
    const py::ssize_t ax = a.ndim() - 1 - i;
    if (a.shape(ax) > 1 && a.strides(ax) != expect)
      fail(what, "contiguous axis " + std::to_string(ax) + " (stride " + std::to_string(expect) + ")",
           "stride " + std::to_string(a.strides(ax)));
    expect *= a.shape(ax);
  }
  for (py::ssize_t ax = 0; ax < a.ndim(); ax++)
    if (a.strides(ax) < 0) fail(what, "positive strides", "negative stride on axis " + std::to_string(ax));
}

void register_preprocess(py::module_& m);
void register_classify(py::module_& m);
void register_detect(py::module_& m);
void register_segment(py::module_& m);

}  // namespace sdk_py
