// Generator: ember's random stream (xoshiro256**, seeded through splitmix64). One default
// generator for the process plus any number of user generators (ember.Generator). Not torch's
// stream: the same seed gives different numbers than torch.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace ember {

// Note [Batched randomness] (ops/random.cpp): while a batched vmap with randomness='same' or
// 'different' runs on this thread, a draw made outside the random ops' batching rules throws this
// before it takes a number; vmap then runs the function once per index instead.
struct UnbatchedDraw : std::runtime_error { using std::runtime_error::runtime_error; };
void check_draw(const char* op);
struct BatchedRandomness {
  bool watching = false;  // an attempt runs on this thread: in-place writes to older storages noted
  bool blocking = false;  // draws throw UnbatchedDraw (off inside a batching rule's own draws)
  bool wrote = false;     // an older storage was written during the attempt
  uint64_t first = 0;     // the first storage id the attempt made
};
BatchedRandomness begin_batched_randomness();                 // returns the state to restore
bool end_batched_randomness(const BatchedRandomness& prev);  // whether an older storage was written
bool set_draws_blocked(bool on);                             // returns the previous setting

// Note [Generator threads]: sampling ops may run with the GIL released (large tensors), so every
// draw sequence locks the generator's mutex; one op's draws are never interleaved with another's.
struct Generator {
  uint64_t s[4];
  uint64_t seed = 67280421310721ULL;
  std::mutex mu;
  Generator() { set(seed); }
  // The lock every draw sequence takes, after the batched-randomness check.
  std::unique_lock<std::mutex> draw(const char* op) {
    check_draw(op);
    return std::unique_lock<std::mutex>(mu);
  }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  void set(uint64_t sd) {
    seed = sd;
    uint64_t x = sd;
    for (auto& v : s) v = splitmix(x);
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
  }
  double uniform() { return (double)(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {  // Box-Muller, one value per call keeps the stream simple
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  uint64_t below(uint64_t n) { return next() % n; }  // n > 0
};

Generator& default_generator();
// The generator a sampling call uses: `g` when given, else the default one.
inline Generator& gen_or_default(Generator* g) { return g ? *g : default_generator(); }

}  // namespace ember
