// Storage: a ref-counted byte buffer shared by a tensor and all its views, plus the version counter.
// Memory comes from the caching allocator, or from a foreign owner (numpy) released through `release`.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace ember {

void* alloc_bytes(size_t nbytes);           // 64-byte aligned, cached by size class
void free_bytes(void* p, size_t nbytes);

// Storages are numbered in creation order: a batched vmap attempt tells the storages that existed
// before it from those it made (Note [Batched randomness], ops/random.cpp).
extern std::atomic<uint64_t> g_storage_ids;
// Threads running such an attempt, which watch in-place writes (a fast check for bump_version).
extern std::atomic<int> g_write_watchers;
struct Storage;
void note_write(const Storage& s);

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  // Note [Version counter]: bumped by every in-place write; saved tensors compare it in backward.
  // It lives here so that views and detach() share it, as torch's views do.
  uint32_t version = 0;
  const uint64_t id = g_storage_ids.fetch_add(1, std::memory_order_relaxed);
  std::function<void()> release;  // set for foreign memory; else the allocator owns `data`
  // Note [Shared memory]: a storage in shared memory lives in a memfd (an anonymous shared-memory
  // file), `shm_offset` bytes in; the descriptor stays open so the storage can be sent to another
  // process (SCM_RIGHTS), which maps the same pages.
  int shm_fd = -1;
  size_t shm_offset = 0;

  explicit Storage(size_t n) : data(n <= sizeof(small) ? small : alloc_bytes(n)), nbytes(n) {}
  Storage(void* d, size_t n, std::function<void()> rel) : data(d), nbytes(n), release(std::move(rel)) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release) release();
    else if (data != small) free_bytes(data, nbytes);
  }
  bool is_inline(const void* d) const { return d == small; }

 private:
  // Scalars and tiny tensors live inside the Storage object: one allocation instead of two.
  alignas(16) unsigned char small[64];
};

// Move a storage's bytes into a fresh memfd mapping (MAP_SHARED), in place: every tensor and view
// over it sees the same values at the new address, and a forked child shares them from then on.
// A no-op for a storage already there. Memory ember does not own (nbytes 0: numpy's, a buffer's)
// cannot move, its extent being unknown: ValueError.
void share_storage(Storage& s);
// A storage over `nbytes` bytes at `offset` of the shared-memory file `fd` (another process's
// storage, or a DataLoader worker's batch). `fd` is duplicated; the caller keeps its own.
std::shared_ptr<Storage> map_shared(int fd, size_t offset, size_t nbytes);

}  // namespace ember
