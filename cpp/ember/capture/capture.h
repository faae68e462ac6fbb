// Whole-step capture and replay (ember.compile): a Recorder sees every tensor call one thread makes
// while it records and keeps each as a Step of a Program; a replay runs the Steps again, in order,
// over fresh input tensors, with no Python in between. Note [Capture] in capture.cpp.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ember/core/tensor.h"

namespace ember::capture {

// The tensors of one replay, by slot: the program's inputs, its constants and every recorded result.
struct Frame {
  std::vector<Tensor> slot;
  std::function<void(int)> py_call;  // runs the program's k-th opaque (Python) step
  const Tensor& at(int i) const {
    static const Tensor none;
    return i < 0 ? none : slot[i];
  }
};
using Step = std::function<void(Frame&)>;

// What a guard compares of a tensor: the metadata a recorded call may have depended on.
struct Meta {
  Shape shape, strides;
  int64_t offset = 0;
  DType dtype = DType::Float32;
  bool requires_grad = false, leaf = true;
  static Meta of(const Tensor& t) {
    return {t->shape, t->strides, t->offset, t->dtype, t->requires_grad, t->is_leaf()};
  }
  bool operator==(const Meta& o) const {
    return shape == o.shape && strides == o.strides && offset == o.offset && dtype == o.dtype &&
           requires_grad == o.requires_grad && leaf == o.leaf;
  }
};

struct Program {
  int n_inputs = 0, n_slots = 0;
  std::vector<Meta> input_meta;
  std::vector<int> input_alias;  // per input: the first input sharing its storage, else -1
  std::vector<std::pair<int, Tensor>> consts;  // (slot, tensor that existed before the recording)
  std::vector<Meta> const_meta;
  std::vector<Step> steps;
  std::vector<std::string> names;  // per step: the call it repeats (for explain() and messages)
  std::vector<std::vector<int>> drop_after;  // slots no later step reads, released after step i
  std::vector<int> outputs;
  std::vector<int> reads;  // tensors whose value the step read last (Tensor.item()): run() returns them after the outputs
  bool grad_mode = true;
  int64_t work = 0;  // elements of every tensor the recording made (Note [GIL]: a small replay keeps it)

  // Do these inputs (and the constants, as they are now) match what was recorded? Else the reason.
  std::string mismatch(const std::vector<Tensor>& inputs) const;
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, std::function<void(int)> py_call) const;
};

class Recorder {
 public:
  explicit Recorder(const std::vector<Tensor>& inputs);  // starts recording on this thread
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  static Recorder* active();  // this thread's recorder, or null (also while paused)
  static Recorder* pause();   // stops seeing calls; returns what resume() takes
  static void resume(Recorder* r);

  int in(const Tensor& t);     // the slot of an operand (null: -1); an unknown new tensor fails the recording
  int constant(const Tensor& t);  // a tensor the call made from Python constants (a wrapped number, an index list)
  int out(const Tensor& t);    // a new slot for a result
  void add(const std::string& name, Step s, std::vector<int> uses);
  void after_backward();       // gradients the backward made become results (p.grad read later)
  void read_grad(const Tensor& t);  // t.grad read from Python: an older gradient is read from t on replay
  // t's value read into Python (a float from Tensor.item()): replayable only after the step's last
  // call, where nothing recorded can depend on it; the replay returns t to read it again
  void value_read(const Tensor& t, const std::string& why);
  void fail(const std::string& why) {
    if (why_.empty()) why_ = why;
  }
  const std::string& failure() const { return why_; }
  // The program, or null (failure() says why).
  std::shared_ptr<Program> finish(const std::vector<Tensor>& outputs);

 private:
  int slot_for(const Tensor& t);
  std::shared_ptr<Program> prog_;
  std::unordered_map<const TensorImpl*, int> slot_of_;
  std::vector<Tensor> held_;      // every tensor seen, kept alive so no address is reused while recording
  std::vector<int> last_use_;     // per slot: the last step reading it (-1: none)
  std::vector<std::pair<int, int>> reads_;  // (slot, steps recorded before the read)
  std::string read_why_;
  uint64_t start_serial_ = 0;
  std::string why_;
  Recorder* prev_ = nullptr;
};

// How one argument of a recorded call is kept: tensors as slots, everything else by value.
template <class T>
struct Kept {
  using type = T;
  static T keep(Recorder&, const T& v) { return v; }
  static const T& get(const Frame&, const T& v) { return v; }
  static void uses(const T&, std::vector<int>&) {}
};
template <>
struct Kept<Tensor> {
  using type = int;
  static int keep(Recorder& r, const Tensor& t) { return r.in(t); }
  static const Tensor& get(const Frame& f, int i) { return f.at(i); }
  static void uses(int i, std::vector<int>& u) { u.push_back(i); }
};
template <>
struct Kept<std::optional<Tensor>> {
  using type = int;
  static int keep(Recorder& r, const std::optional<Tensor>& t) { return t ? r.in(*t) : -2; }
  static std::optional<Tensor> get(const Frame& f, int i) {
    return i == -2 ? std::nullopt : std::optional<Tensor>(f.at(i));
  }
  static void uses(int i, std::vector<int>& u) { u.push_back(i); }
};
template <class E>
struct Kept<std::vector<E>> {
  using type = std::vector<typename Kept<E>::type>;
  static type keep(Recorder& r, const std::vector<E>& v) {
    type k;
    k.reserve(v.size());
    for (const auto& e : v) k.push_back(Kept<E>::keep(r, e));
    return k;
  }
  static std::vector<E> get(const Frame& f, const type& k) {
    std::vector<E> v;
    v.reserve(k.size());
    for (const auto& e : k) v.push_back(Kept<E>::get(f, e));
    return v;
  }
  static void uses(const type& k, std::vector<int>& u) {
    for (const auto& e : k) Kept<E>::uses(e, u);
  }
};

// How a result is given slots and put back into the frame on replay.
template <class R>
struct Results;
template <>
struct Results<Tensor> {
  static std::vector<int> slots(Recorder& r, const Tensor& t) { return {r.out(t)}; }
  static void put(Frame& f, const std::vector<int>& s, Tensor t) {
    if (s[0] >= 0) f.slot[s[0]] = std::move(t);
  }
};
template <>
struct Results<std::vector<Tensor>> {
  static std::vector<int> slots(Recorder& r, const std::vector<Tensor>& v) {
    std::vector<int> s;
    for (auto& t : v) s.push_back(r.out(t));
    return s;
  }
  static void put(Frame& f, const std::vector<int>& s, std::vector<Tensor> v) {
    for (size_t i = 0; i < s.size() && i < v.size(); ++i)
      if (s[i] >= 0) f.slot[s[i]] = std::move(v[i]);
  }
};
template <class... T>
struct Results<std::tuple<T...>> {
  static std::vector<int> slots(Recorder& r, const std::tuple<T...>& v) {
    std::vector<int> s;
    std::apply([&](const auto&... t) { (s.push_back(r.out(t)), ...); }, v);
    return s;
  }
  static void put(Frame& f, const std::vector<int>& s, std::tuple<T...> v) {
    size_t i = 0;
    std::apply([&](auto&... t) { ((s[i] >= 0 ? (void)(f.slot[s[i]] = std::move(t)) : (void)0, ++i), ...); }, v);
  }
};
template <class A, class B>
struct Results<std::pair<A, B>> {
  static std::vector<int> slots(Recorder& r, const std::pair<A, B>& v) { return {r.out(v.first), r.out(v.second)}; }
  static void put(Frame& f, const std::vector<int>& s, std::pair<A, B> v) {
    if (s[0] >= 0) f.slot[s[0]] = std::move(v.first);
    if (s[1] >= 0) f.slot[s[1]] = std::move(v.second);
  }
};

// Runs f(args...) and, while this thread records, keeps the call as a Step: the replay calls f
// again with the same non-tensor arguments and the tensors now in the same slots.
template <class F, class... A>
auto call(const char* name, F f, const A&... a) -> decltype(f(a...)) {
  using R = decltype(f(a...));
  Recorder* r = Recorder::active();
  if (!r) return f(a...);
  auto kept = std::make_tuple(Kept<std::decay_t<A>>::keep(*r, a)...);
  std::vector<int> uses;
  std::apply([&](const auto&... k) { (Kept<std::decay_t<A>>::uses(k, uses), ...); }, kept);
  auto replay = [f, kept](Frame& fr) {
    return std::apply([&](const auto&... k) { return f(Kept<std::decay_t<A>>::get(fr, k)...); }, kept);
  };
  try {
    if constexpr (std::is_void_v<R>) {
      f(a...);
      r->add(name, replay, std::move(uses));
    } else {
      R res = f(a...);
      std::vector<int> os = Results<R>::slots(*r, res);
      r->add(name, [replay, os](Frame& fr) { Results<R>::put(fr, os, replay(fr)); }, std::move(uses));
      return res;
    }
  } catch (...) {
    r->fail(std::string(name) + "() raised an exception");
    throw;
  }
}

}  // namespace ember::capture
