// The caching allocator: small buffers are recycled by power-of-two size class, so the
// allocations every op makes on tiny tensors skip malloc; large ones go straight to the system.
#include "ember/core/storage.h"

#include <pthread.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace ember {
namespace {

constexpr size_t kMinClass = 6;    // 64 B
constexpr size_t kMaxClass = 20;   // 1 MiB; larger buffers are not cached
constexpr size_t kMaxCachedPerClass = 64;

struct Cache {
  std::mutex mu;
  std::vector<void*> free[kMaxClass + 1];
  ~Cache() {
    for (auto& v : free)
      for (void* p : v) std::free(p);
  }
};

Cache& cache() {
  // Never destroyed: storages may outlive static destruction. Held across fork(): a thread of the
  // parent inside alloc/free at that moment would leave the child's copy locked forever.
  static Cache* c = [] {
    auto* k = new Cache();
    pthread_atfork([] { cache().mu.lock(); }, [] { cache().mu.unlock(); }, [] { cache().mu.unlock(); });
    return k;
  }();
  return *c;
}

size_t size_class(size_t n) {
  size_t c = kMinClass;
  while ((size_t(1) << c) < n) ++c;
  return c;
}

}  // namespace

void* alloc_bytes(size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  size_t c = size_class(nbytes);
  if (c <= kMaxClass) {
    Cache& k = cache();
    {
      std::lock_guard<std::mutex> g(k.mu);
      auto& v = k.free[c];
      if (!v.empty()) {
        void* p = v.back();
        v.pop_back();
        return p;
      }
    }
    void* p = std::aligned_alloc(64, size_t(1) << c);
    if (!p) throw std::bad_alloc();
    return p;
  }
  size_t rounded = (nbytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  return p;
}

void free_bytes(void* p, size_t nbytes) {
  if (!p) return;
  if (nbytes == 0) nbytes = 1;
  size_t c = size_class(nbytes);
  if (c <= kMaxClass) {
    Cache& k = cache();
    std::lock_guard<std::mutex> g(k.mu);
    auto& v = k.free[c];
    if (v.size() < kMaxCachedPerClass) {
      v.push_back(p);
      return;
    }
  }
  std::free(p);
}

}  // namespace ember
