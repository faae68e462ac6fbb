// Run-time SIMD selection. Note [Run-time SIMD]: hot loops are written once as always-inline
// templates and instantiated in non-template functions that GCC clones for AVX-512
// (x86-64-v4), AVX2/FMA (x86-64-v3) and the baseline; the dynamic loader's resolver picks the
// best clone for the CPU, so the wheel stays portable (no -march=native). Code whose shape
// depends on the vector width (the GEMM kernel) is versioned by hand under EMBER_HAS_CLONES.
#pragma once

#include <cstdint>
#include <type_traits>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(EMBER_NO_CLONES)
#define EMBER_HAS_CLONES 1
#define EMBER_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define EMBER_HAS_CLONES 0
#define EMBER_CLONES
#endif
#define EMBER_INLINE __attribute__((always_inline)) inline

// Code versioned by hand by its vector width (Note [GEMM vector width] in gemm.cpp):
// EMBER_PER_WIDTH(DEF, args...) expands DEF(attribute, vector bytes, args...) once per target, the
// attribute compiling that definition for it; without clones, once for 16-byte vectors.
#if EMBER_HAS_CLONES
#define EMBER_PER_WIDTH(DEF, ...)                                  \
  DEF(__attribute__((target("arch=x86-64-v4"))), 64, __VA_ARGS__) \
  DEF(__attribute__((target("arch=x86-64-v3"))), 32, __VA_ARGS__) \
  DEF(__attribute__((target("default"))), 16, __VA_ARGS__)
#else
#define EMBER_PER_WIDTH(DEF, ...) DEF(, 16, __VA_ARGS__)
#endif

// A vector of VB bytes of T, for code versioned by its width.
template <class T, int VB>
struct Vec {
  typedef T type __attribute__((vector_size(VB)));
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> lane;
  typedef lane index __attribute__((vector_size(VB)));
  // Unaligned loads and stores as single vector moves: memcpy into a vector array went through
  // the stack in halves, and the wide reload missed store forwarding.
  typedef T unaligned __attribute__((vector_size(VB), aligned(1), may_alias));
  static EMBER_INLINE type load(const T* p) { return *reinterpret_cast<const unaligned*>(p); }
  static EMBER_INLINE void store(T* p, type v) { *reinterpret_cast<unaligned*>(p) = v; }
};
