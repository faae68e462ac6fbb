// SmallVec: a vector with inline storage for the first N elements. Shapes and strides live here
// so that creating a tensor on the hot path does not call malloc for its metadata.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>
#include <type_traits>

namespace ember {

template <class T, size_t N>
class SmallVec {
  static_assert(std::is_trivially_copyable_v<T>, "SmallVec holds trivially copyable values only");
  T* ptr_;
  size_t size_ = 0, cap_ = N;
  T inline_[N];

  void grow(size_t need) {
    if (need <= cap_) return;
    size_t cap = std::max(need, cap_ * 2);
    T* p = static_cast<T*>(std::malloc(cap * sizeof(T)));
    if (!p) throw std::bad_alloc();
    if (size_) std::memcpy(p, ptr_, size_ * sizeof(T));
    if (ptr_ != inline_) std::free(ptr_);
    ptr_ = p;
    cap_ = cap;
  }

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;
  using size_type = size_t;

  SmallVec() : ptr_(inline_) {}
  explicit SmallVec(size_t n, T v = T()) : ptr_(inline_) { assign(n, v); }
  SmallVec(std::initializer_list<T> l) : ptr_(inline_) { assign(l.begin(), l.end()); }
  template <class It, class = decltype(*std::declval<It>())>
  SmallVec(It b, It e) : ptr_(inline_) { assign(b, e); }
  SmallVec(const SmallVec& o) : ptr_(inline_) { assign(o.begin(), o.end()); }
  SmallVec(SmallVec&& o) noexcept : ptr_(inline_) { *this = std::move(o); }
  SmallVec& operator=(const SmallVec& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this == &o) return *this;
    if (o.ptr_ != o.inline_) {
      if (ptr_ != inline_) std::free(ptr_);
      ptr_ = o.ptr_;
      cap_ = o.cap_;
      size_ = o.size_;
      o.ptr_ = o.inline_;
      o.cap_ = N;
      o.size_ = 0;
    } else {
      size_ = 0;
      assign(o.begin(), o.end());
      o.size_ = 0;
    }
    return *this;
  }
  ~SmallVec() {
    if (ptr_ != inline_) std::free(ptr_);
  }

  template <class It>
  void assign(It b, It e) {
    size_t n = (size_t)std::distance(b, e);
    grow(n);
    size_t i = 0;
    for (It it = b; it != e; ++it) ptr_[i++] = static_cast<T>(*it);
    size_ = n;
  }
  void assign(size_t n, T v) {
    grow(n);
    std::fill(ptr_, ptr_ + n, v);
    size_ = n;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  T* begin() { return ptr_; }
  T* end() { return ptr_ + size_; }
  const T* begin() const { return ptr_; }
  const T* end() const { return ptr_ + size_; }
  T& operator[](size_t i) { return ptr_[i]; }
  const T& operator[](size_t i) const { return ptr_[i]; }
  T& back() { return ptr_[size_ - 1]; }
  const T& back() const { return ptr_[size_ - 1]; }
  T& front() { return ptr_[0]; }
  void reserve(size_t n) { grow(n); }
  void clear() { size_ = 0; }
  void resize(size_t n, T v = T()) {
    grow(n);
    if (n > size_) std::fill(ptr_ + size_, ptr_ + n, v);
    size_ = n;
  }
  void push_back(T v) {
    grow(size_ + 1);
    ptr_[size_++] = v;
  }
  void pop_back() { --size_; }
  T* insert(T* pos, T v) {
    size_t i = (size_t)(pos - ptr_);
    grow(size_ + 1);
    std::memmove(ptr_ + i + 1, ptr_ + i, (size_ - i) * sizeof(T));
    ptr_[i] = v;
    ++size_;
    return ptr_ + i;
  }
  template <class It>
  T* insert(T* pos, It b, It e) {
    size_t i = (size_t)(pos - ptr_), n = (size_t)std::distance(b, e);
    grow(size_ + n);
    std::memmove(ptr_ + i + n, ptr_ + i, (size_ - i) * sizeof(T));
    size_t k = i;
    for (It it = b; it != e; ++it) ptr_[k++] = static_cast<T>(*it);
    size_ += n;
    return ptr_ + i;
  }
  T* erase(T* pos) {
    size_t i = (size_t)(pos - ptr_);
    std::memmove(ptr_ + i, ptr_ + i + 1, (size_ - i - 1) * sizeof(T));
    --size_;
    return ptr_ + i;
  }
  bool operator==(const SmallVec& o) const {
    return size_ == o.size_ && std::equal(begin(), end(), o.begin());
  }
  bool operator!=(const SmallVec& o) const { return !(*this == o); }
};

}  // namespace ember
