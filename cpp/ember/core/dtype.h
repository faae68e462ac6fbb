// dtype: the four element types ember supports, their promotion table and a dispatch macro.
// Promotion follows torch: categories bool < integer < floating; wrapped Python numbers only lift the category.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <cstring>
#include <string>
#include <type_traits>

namespace ember {

// Compute types first (Bool..Float64: kernels are instantiated for these), then the storage
// types. Note [Storage dtypes]: a storage dtype (uint8, int8, int16, int32, float16, bfloat16) is
// held and converted natively, but arithmetic runs in its compute type (int64, or float32 for
// the half types, as torch accumulates them) and the result is cast back; see
// apply_dtype_policy in registry.cpp. The numbering is part of the ABI of nothing: only the
// functions below may depend on it.
enum class DType : uint8_t {
  Bool = 0, Int64 = 1, Float32 = 2, Float64 = 3,
  UInt8 = 4, Int8 = 5, Int16 = 6, Int32 = 7, Float16 = 8, BFloat16 = 9
};
constexpr int kNumDTypes = 10;

inline size_t itemsize(DType d) {
  switch (d) {
    case DType::Bool: case DType::UInt8: case DType::Int8: return 1;
    case DType::Int16: case DType::Float16: case DType::BFloat16: return 2;
    case DType::Int32: case DType::Float32: return 4;
    case DType::Int64: case DType::Float64: return 8;
  }
  return 0;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Bool: return "bool";
    case DType::Int64: return "int64";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::UInt8: return "uint8";
    case DType::Int8: return "int8";
    case DType::Int16: return "int16";
    case DType::Int32: return "int32";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
  }
  return "?";
}

inline bool is_floating(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::Float16 || d == DType::BFloat16;
}
// A storage dtype (Note [Storage dtypes]).
inline bool is_storage_only(DType d) { return static_cast<uint8_t>(d) >= static_cast<uint8_t>(DType::UInt8); }
// The dtype a storage dtype computes in; compute dtypes are their own.
inline DType compute_type(DType d) {
  if (!is_storage_only(d)) return d;
  return is_floating(d) ? DType::Float32 : DType::Int64;
}

// 0 = bool, 1 = integer, 2 = floating
inline int category(DType d) { return d == DType::Bool ? 0 : (is_floating(d) ? 2 : 1); }

// torch's promotion lattice: bool < integers (by width; uint8 with int8 gives int16) < floating
// (float16 with bfloat16 gives float32).
inline DType promote(DType a, DType b) {
  if (a == b) return a;
  int ca = category(a), cb = category(b);
  if (ca != cb) return ca > cb ? a : b;
  if (ca == 1) {
    if ((a == DType::UInt8 && b == DType::Int8) || (a == DType::Int8 && b == DType::UInt8)) return DType::Int16;
    return itemsize(a) >= itemsize(b) ? a : b;
  }
  // floating
  if (itemsize(a) == 2 && itemsize(b) == 2) return DType::Float32;  // float16 with bfloat16
  return itemsize(a) > itemsize(b) ? a : b;
}

// Float types stay, everything else becomes the default float (float32), as torch's unary float ops do.
inline DType to_floating(DType d) { return is_floating(d) ? d : DType::Float32; }

// True when a value of type `from` may be written into a tensor of type `to` (in-place ops).
inline bool can_cast(DType from, DType to) { return category(from) <= category(to); }

// float16 and bfloat16 as storage: conversions to and from float with round-to-nearest-even.
// Arithmetic on them is done in float (Note [Storage dtypes]); these types only convert.
inline uint16_t float_to_half_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return (uint16_t)(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));  // NaN, inf
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (ax < 0x38800000u) {  // below 2^-14: a subnormal half; adding 0.5 makes the float ulp 2^-24
    float af;
    std::memcpy(&af, &ax, 4);
    af += 0.5f;
    uint32_t r;
    std::memcpy(&r, &af, 4);
    return (uint16_t)(sign | (r - 0x3f000000u));
  }
  ax += 0xc8000fffu + ((ax >> 13) & 1u);  // rebias the exponent by -112 and round to nearest even
  return (uint16_t)(sign | (ax >> 13));
}
inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t bits;
  if (e == 0x1f) bits = sign | 0x7f800000u | (m << 13) | (m ? 0x00400000u : 0u);  // NaNs come out quiet, as F16C's
  else if (e == 0) {
    float f = (float)m * 0x1p-24f;
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  } else bits = sign | ((e + 112u) << 23) | (m << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint16_t float_to_bfloat16_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0xffffu;  // NaN: torch's bits (its signbit is set)
  return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
inline float bfloat16_bits_to_float(uint16_t b) {
  uint32_t x = (uint32_t)b << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
struct Half {
  uint16_t bits;
  Half() = default;
  Half(float f) : bits(float_to_half_bits(f)) {}
  operator float() const { return half_bits_to_float(bits); }
};
struct BFloat16 {
  uint16_t bits;
  BFloat16() = default;
  BFloat16(float f) : bits(float_to_bfloat16_bits(f)) {}
  operator float() const { return bfloat16_bits_to_float(bits); }
};

template <class T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::Int8; };
template <> struct dtype_of<int16_t> { static constexpr DType value = DType::Int16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::BFloat16; };

// Value conversion between any two element types (as torch's casts: floats to integers truncate,
// anything to bool is != 0; half types go through float).
template <class D, class S>
inline D convert(S v) {
  constexpr bool half_src = std::is_same_v<S, Half> || std::is_same_v<S, BFloat16>;
  if constexpr (std::is_same_v<D, bool>) {
    if constexpr (half_src) return (float)v != 0.0f;
    else return v != S(0);
  } else if constexpr (half_src) return convert<D, float>((float)v);
  else if constexpr (std::is_same_v<D, Half> || std::is_same_v<D, BFloat16>) return D((float)v);
  else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) return static_cast<D>((int64_t)v);
  else return static_cast<D>(v);
}

// Thrown (as a bug report) when a storage dtype reaches a kernel instantiated only for compute dtypes.
[[noreturn]] void storage_dtype_reached_kernel(DType d);

// Every dtype, storage dtypes included: only for conversions, fills and reads.
#define EMBER_DISPATCH_STORAGE(dt, T, ...)                                    \
  switch (dt) {                                                               \
    case ::ember::DType::Bool: { using T = bool; __VA_ARGS__; break; }        \
    case ::ember::DType::Int64: { using T = int64_t; __VA_ARGS__; break; }    \
    case ::ember::DType::Float32: { using T = float; __VA_ARGS__; break; }    \
    case ::ember::DType::Float64: { using T = double; __VA_ARGS__; break; }   \
    case ::ember::DType::UInt8: { using T = uint8_t; __VA_ARGS__; break; }    \
    case ::ember::DType::Int8: { using T = int8_t; __VA_ARGS__; break; }      \
    case ::ember::DType::Int16: { using T = int16_t; __VA_ARGS__; break; }    \
    case ::ember::DType::Int32: { using T = int32_t; __VA_ARGS__; break; }    \
    case ::ember::DType::Float16: { using T = ::ember::Half; __VA_ARGS__; break; } \
    case ::ember::DType::BFloat16: { using T = ::ember::BFloat16; __VA_ARGS__; break; } \
  }

#define EMBER_DISPATCH_ALL(dt, T, ...)                                        \
  switch (dt) {                                                               \
    case ::ember::DType::Bool: { using T = bool; __VA_ARGS__; break; }        \
    case ::ember::DType::Int64: { using T = int64_t; __VA_ARGS__; break; }    \
    case ::ember::DType::Float32: { using T = float; __VA_ARGS__; break; }    \
    case ::ember::DType::Float64: { using T = double; __VA_ARGS__; break; }   \
    default: ::ember::storage_dtype_reached_kernel(dt);                       \
  }

#define EMBER_DISPATCH_NUMERIC(dt, name, T, ...)                              \
  switch (dt) {                                                               \
    case ::ember::DType::Int64: { using T = int64_t; __VA_ARGS__; break; }    \
    case ::ember::DType::Float32: { using T = float; __VA_ARGS__; break; }    \
    case ::ember::DType::Float64: { using T = double; __VA_ARGS__; break; }   \
    case ::ember::DType::Bool: throw ::ember::TypeError(std::string(name) + ": not implemented for dtype bool"); \
    default: ::ember::storage_dtype_reached_kernel(dt);                       \
  }

#define EMBER_DISPATCH_FLOAT(dt, name, T, ...)                                \
  switch (dt) {                                                               \
    case ::ember::DType::Float32: { using T = float; __VA_ARGS__; break; }    \
    case ::ember::DType::Float64: { using T = double; __VA_ARGS__; break; }   \
    default:                                                                  \
      if (::ember::is_floating(dt)) ::ember::storage_dtype_reached_kernel(dt); \
      throw ::ember::TypeError(std::string(name) + ": expected a floating point tensor, got " + ::ember::dtype_name(dt)); \
  }

// Exceptions mapped to Python's by the bindings.
struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
struct NotImplementedError : std::runtime_error { using std::runtime_error::runtime_error; };
// RuntimeError is std::runtime_error itself.

// torch's name of a dtype in messages ("Float", "Long").
inline const char* scalar_type_name(DType d) {
  switch (d) {
    case DType::Bool: return "Bool";
    case DType::Int64: return "Long";
    case DType::Float32: return "Float";
    case DType::Float64: return "Double";
    case DType::UInt8: return "Byte";
    case DType::Int8: return "Char";
    case DType::Int16: return "Short";
    case DType::Int32: return "Int";
    case DType::Float16: return "Half";
    case DType::BFloat16: return "BFloat16";
  }
  return "?";
}
// torch's error for a dtype an op has no kernel for: NotImplementedError
// "\"abs_cpu\" not implemented for 'Bool'".
[[noreturn]] inline void not_implemented_for(const std::string& kernel, DType d) {
  throw NotImplementedError("\"" + kernel + "\" not implemented for '" + scalar_type_name(d) + "'");
}

}  // namespace ember
