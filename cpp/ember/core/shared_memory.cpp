// Storages in shared memory (Note [Shared memory] in storage.h): Tensor.share_memory_(), tensors
// sent to other processes through multiprocessing, DataLoader workers' batches.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "ember/core/dtype.h"
#include "ember/core/storage.h"

namespace ember {
namespace {

std::string os_error(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

void share_storage(Storage& s) {
  if (s.shm_fd >= 0) return;
  if (s.release && s.nbytes == 0)
    throw ValueError("share_memory_(): the tensor's memory is not ember's (from_numpy, frombuffer), so it cannot be "
                     "moved into shared memory; share a clone() of it");
  size_t n = s.nbytes ? s.nbytes : 1;
  int fd = memfd_create("ember-shared", MFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(os_error("share_memory_(): memfd_create"));
  if (ftruncate(fd, (off_t)n) != 0) {
    std::string e = os_error("share_memory_(): ftruncate");
    close(fd);
    throw std::runtime_error(e);
  }
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    std::string e = os_error("share_memory_(): mmap");
    close(fd);
    throw std::runtime_error(e);
  }
  if (s.nbytes) std::memcpy(p, s.data, s.nbytes);
  void* old_data = s.data;
  std::function<void()> old_release = std::move(s.release);
  s.data = p;
  s.release = [p, n, fd] {
    munmap(p, n);
    close(fd);
  };
  if (old_release) old_release();  // foreign memory with a known size
  else if (!s.is_inline(old_data)) free_bytes(old_data, s.nbytes);
  s.shm_fd = fd;
  s.shm_offset = 0;
}

std::shared_ptr<Storage> map_shared(int fd, size_t offset, size_t nbytes) {
  long page = sysconf(_SC_PAGESIZE);
  size_t start = offset / (size_t)page * (size_t)page, delta = offset - start;
  size_t len = delta + (nbytes ? nbytes : 1);
  struct stat st;
  if (fstat(fd, &st) != 0) throw ValueError(os_error("map_shared: fstat"));
  if ((size_t)st.st_size < offset + nbytes)
    throw ValueError("map_shared: the shared-memory file holds " + std::to_string(st.st_size) + " bytes, fewer than " +
                     std::to_string(offset + nbytes) + " (offset " + std::to_string(offset) + " + " +
                     std::to_string(nbytes) + ")");
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) throw std::runtime_error(os_error("map_shared: dup"));
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, own, (off_t)start);
  if (p == MAP_FAILED) {
    std::string e = os_error("map_shared: mmap");
    close(own);
    throw std::runtime_error(e);
  }
  auto s = std::make_shared<Storage>(static_cast<char*>(p) + delta, nbytes, [p, len, own] {
    munmap(p, len);
    close(own);
  });
  s->shm_fd = own;
  s->shm_offset = offset;
  return s;
}

}  // namespace ember
