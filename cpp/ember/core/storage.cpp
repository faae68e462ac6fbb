// The caching allocator: small buffers are recycled by power-of-two size class, so the
// allocations every op makes on tiny tensors skip malloc; large ones are kept by exact size, up to
// kLargeCacheBytes in all (Note [Large buffers]).
#include "ember/core/storage.h"

#include <pthread.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace ember {

std::atomic<uint64_t> g_storage_ids{0};
std::atomic<int> g_write_watchers{0};

namespace {

constexpr size_t kMinClass = 6;    // 64 B
constexpr size_t kMaxClass = 20;   // 1 MiB; larger buffers are not cached
constexpr size_t kMaxCachedPerClass = 64;
// Note [Large buffers]: glibc serves a buffer over 32 MiB with a fresh mmap and unmaps it when it is
// freed, so every such tensor pays a page fault per 4 KiB on first touch: filling 100 MB took 45 ms
// (2.2 GB/s) where writing cached memory takes a few. A loop that makes the same large tensors each
// step (per-sample gradients: 128 copies of a layer's weight gradient) keeps them here instead, by
// exact size (a step's sizes repeat), at most kLargeCacheBytes in all; beyond that they go back to
// the system. The memory stays with the process, as the small classes' does.
constexpr size_t kLargeCacheBytes = size_t(512) << 20;

struct Cache {
  std::mutex mu;
  std::vector<void*> free[kMaxClass + 1];
  std::vector<std::pair<size_t, void*>> large;  // (rounded size, buffer), newest last
  size_t large_bytes = 0;
  ~Cache() {
    for (auto& v : free)
      for (void* p : v) std::free(p);
    for (auto& [n, p] : large) std::free(p);
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
  const size_t rounded = (nbytes + 4095) / 4096 * 4096;
  {
    Cache& k = cache();
    std::lock_guard<std::mutex> g(k.mu);
    for (size_t i = k.large.size(); i-- > 0;)
      if (k.large[i].first == rounded) {
        void* p = k.large[i].second;
        k.large.erase(k.large.begin() + (std::ptrdiff_t)i);
        k.large_bytes -= rounded;
        return p;
      }
  }
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
    std::free(p);
    return;
  }
  const size_t rounded = (nbytes + 4095) / 4096 * 4096;
  {
    Cache& k = cache();
    std::lock_guard<std::mutex> g(k.mu);
    if (k.large_bytes + rounded <= kLargeCacheBytes) {
      k.large.push_back({rounded, p});
      k.large_bytes += rounded;
      return;
    }
  }
  std::free(p);
}

}  // namespace ember
