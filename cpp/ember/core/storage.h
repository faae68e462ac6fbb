// Storage: a ref-counted byte buffer shared by a tensor and all its views, plus the version counter.
// Memory comes from the caching allocator, or from a foreign owner (numpy) released through `release`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace ember {

void* alloc_bytes(size_t nbytes);           // 64-byte aligned, cached by size class
void free_bytes(void* p, size_t nbytes);

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  // Note [Version counter]: bumped by every in-place write; saved tensors compare it in backward.
  // It lives here so that views and detach() share it, as torch's views do.
  uint32_t version = 0;
  std::function<void()> release;  // set for foreign memory; else the allocator owns `data`

  explicit Storage(size_t n) : data(n <= sizeof(small) ? small : alloc_bytes(n)), nbytes(n) {}
  Storage(void* d, size_t n, std::function<void()> rel) : data(d), nbytes(n), release(std::move(rel)) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release) release();
    else if (data != small) free_bytes(data, nbytes);
  }

 private:
  // Scalars and tiny tensors live inside the Storage object: one allocation instead of two.
  alignas(16) unsigned char small[64];
};

}  // namespace ember
