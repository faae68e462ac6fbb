// dtype: the four element types ember supports, their promotion table and a dispatch macro.
// Promotion follows torch: categories bool < integer < floating; wrapped Python numbers only lift the category.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace ember {

enum class DType : uint8_t { Bool = 0, Int64 = 1, Float32 = 2, Float64 = 3 };

inline size_t itemsize(DType d) {
  switch (d) {
    case DType::Bool: return 1;
    case DType::Int64: return 8;
    case DType::Float32: return 4;
    case DType::Float64: return 8;
  }
  return 0;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Bool: return "bool";
    case DType::Int64: return "int64";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
  }
  return "?";
}

inline bool is_floating(DType d) { return d == DType::Float32 || d == DType::Float64; }

// 0 = bool, 1 = integer, 2 = floating
inline int category(DType d) { return d == DType::Bool ? 0 : (d == DType::Int64 ? 1 : 2); }

inline DType promote(DType a, DType b) { return static_cast<uint8_t>(a) > static_cast<uint8_t>(b) ? a : b; }

// Float types stay, everything else becomes the default float (float32), as torch's unary float ops do.
inline DType to_floating(DType d) { return is_floating(d) ? d : DType::Float32; }

// True when a value of type `from` may be written into a tensor of type `to` (in-place ops).
inline bool can_cast(DType from, DType to) { return category(from) <= category(to); }

template <class T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };

#define EMBER_DISPATCH_ALL(dt, T, ...)                                        \
  switch (dt) {                                                               \
    case ::ember::DType::Bool: { using T = bool; __VA_ARGS__; break; }        \
    case ::ember::DType::Int64: { using T = int64_t; __VA_ARGS__; break; }    \
    case ::ember::DType::Float32: { using T = float; __VA_ARGS__; break; }    \
    case ::ember::DType::Float64: { using T = double; __VA_ARGS__; break; }   \
  }

#define EMBER_DISPATCH_NUMERIC(dt, name, T, ...)                              \
  switch (dt) {                                                               \
    case ::ember::DType::Int64: { using T = int64_t; __VA_ARGS__; break; }    \
    case ::ember::DType::Float32: { using T = float; __VA_ARGS__; break; }    \
    case ::ember::DType::Float64: { using T = double; __VA_ARGS__; break; }   \
    default: throw ::ember::TypeError(std::string(name) + ": not implemented for dtype bool"); \
  }

#define EMBER_DISPATCH_FLOAT(dt, name, T, ...)                                \
  switch (dt) {                                                               \
    case ::ember::DType::Float32: { using T = float; __VA_ARGS__; break; }    \
    case ::ember::DType::Float64: { using T = double; __VA_ARGS__; break; }   \
    default: throw ::ember::TypeError(std::string(name) + ": expected a floating point tensor, got " + ::ember::dtype_name(dt)); \
  }

// Exceptions mapped to Python's by the bindings.
struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
struct NotImplementedError : std::runtime_error { using std::runtime_error::runtime_error; };
// RuntimeError is std::runtime_error itself.

}  // namespace ember
