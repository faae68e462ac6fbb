// The autograd graph: Node (a backward function), Edge (node, input_nr), SavedTensor and grad mode.
// Graph edges point from an output's node to the nodes of its inputs; nothing points back.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/tensor.h"

namespace ember {

struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool on);
};

struct NoGradGuard {
  bool prev;
  NoGradGuard() : prev(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev); }
};

struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

// Note [Saved tensors]: a node keeps inputs it needs as strong references (they never point back
// at this node), but an output is saved as a grad_fn-less alias: holding the output itself would
// make a cycle output -> grad_fn -> output (pytorch#25340). The version recorded at save time is
// checked at unpack, so an in-place change after saving raises instead of giving wrong gradients.
// A SavedTensor member declared `SavedTensor a{this};` registers with its node, whose
// release_saved() (after a backward without retain_graph) resets it: no node writes that by hand.
struct SavedTensor {
  Tensor t;
  uint32_t version = 0;
  uint32_t output_nr = 0;  // for a saved output: its number in the owner's outputs
  bool is_output = false;  // unpacked under grad mode with the owner as grad_fn (Note [Double backward])
  SavedTensor* next_saved = nullptr;  // the owner's next registered SavedTensor (an intrusive list: no allocation)
  SavedTensor() = default;  // unregistered (held in a container the node clears itself)
  explicit SavedTensor(struct Node* owner);
  void save(const Tensor& x, bool is_output = false);
  Tensor get(const struct Node& owner) const;
  void reset() { t.reset(); }
};

struct Node : std::enable_shared_from_this<Node> {
  std::vector<Edge> next;          // one per forward input (invalid when that input needs no grad)
  uint32_t num_outputs = 1;        // number of incoming gradients
  bool released = false;           // saved tensors freed after a backward without retain_graph
  std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>> retained;  // outputs with retain_grad()
  std::vector<std::pair<uint32_t, std::pair<int64_t, GradHook>>> hooks;  // register_hook of output nr: (nr, (id, hook))
  // Note [Engine per run]: a backward pass keeps its scratch (dependency counts, gathered gradients)
  // in its own GraphTask, so passes run concurrently; a node reached by two concurrent passes runs
  // its apply (and frees its saved tensors) under this mutex, so a shared leaf accumulates safely.
  std::mutex mu;

  virtual ~Node();
  // grads: one per forward output (null = zero). Returns one gradient per entry of `next`.
  virtual std::vector<Tensor> apply(std::vector<Tensor>& grads) = 0;
  virtual std::string name() const = 0;
  SavedTensor* saved_head = nullptr;  // the node's registered SavedTensor members (linked through next_saved)
  // Frees what the node saved for backward: its registered SavedTensors (override to clear more).
  virtual void release_saved() {
    for (SavedTensor* s = saved_head; s; s = s->next_saved) s->reset();
  }
  // A fused node that stands for several of torch's (nn.Linear's): how torch would build that part
  // of the graph, for grad_fn.next_functions. Empty for the others.
  virtual std::string torch_layout() const { return ""; }
  bool needs(size_t i) const { return i < next.size() && next[i].valid(); }
  // Note [Double backward]: a backward with create_graph=True runs every apply() under grad mode. A node
  // whose apply() then computes its gradients with differentiable ops (so they carry their own graph,
  // back to the saved inputs and the incoming gradients) says so here; the engine runs any other node
  // without grad mode and gives its gradients a node that raises when differentiated, so a missing
  // second derivative is an error, never a silent zero.
  virtual bool differentiable() const { return false; }
};

inline SavedTensor::SavedTensor(Node* owner) : next_saved(owner->saved_head) { owner->saved_head = this; }

// Leaf sink: adds the incoming gradient into variable->grad.
struct AccumulateGrad : Node {
  Tensor variable;
  explicit AccumulateGrad(Tensor v) : variable(std::move(v)) {}
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
};

// Tensor.register_hook: the hook runs on t's gradient when it is computed (a leaf's before it is
// accumulated into .grad; a non-leaf's before retain_grad stores it). Returns an id for remove_hook.
int64_t register_hook(const Tensor& t, GradHook hook);
void remove_hook(const Tensor& t, int64_t id);
Tensor run_hooks(const std::vector<std::pair<int64_t, GradHook>>& hooks, Tensor g);

// The edge a gradient for `t` flows into: its grad_fn, or its leaf accumulator, or none.
Edge gradient_edge(const Tensor& t);

// True when grad mode is on and any of the tensors requires grad.
inline bool any_requires_grad(std::initializer_list<const Tensor*> ts) {
  if (!GradMode::is_enabled()) return false;
  for (auto* t : ts)
    if (*t && (*t)->requires_grad) return true;
  return false;
}

// Connect `node` to `inputs` and make it the grad_fn of `out` (output number `nr`).
void set_history(const Tensor& out, const std::shared_ptr<Node>& node, uint32_t nr = 0);
void collect_next_edges(Node& node, std::initializer_list<const Tensor*> inputs);

template <class N, class... Args>
std::shared_ptr<N> make_node(std::initializer_list<const Tensor*> inputs, Args&&... args) {
  auto n = std::make_shared<N>(std::forward<Args>(args)...);
  collect_next_edges(*n, inputs);
  return n;
}

// Run backward from `roots` with `grads` (null entry = implicit ones for a scalar root).
// accumulate=true: leaf grads go into .grad (only the `inputs`' when given); false: return grads of
// `inputs` (autograd.grad). create_graph: the pass builds a graph of its gradients (Note [Double
// backward]). stop_at_inputs: the inputs' own history is not entered, so the gradients are the
// partial derivatives of the roots in the inputs (a fused node's recompute, below).
std::vector<Tensor> run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                                 bool keep_graph, bool accumulate, const std::vector<Tensor>& inputs,
                                 bool allow_unused, bool create_graph = false, bool stop_at_inputs = false);

// A gradient `r` that is a linear map of the incoming gradient `g` alone (a pooling's, a sub-view's):
// under create_graph (Note [Double backward]) it gets a node whose backward is the map's `adjoint`
// applied to the gradient flowing into r. Returns r (unchanged outside create_graph). The adjoint
// runs without grad mode: a third derivative through it raises.
Tensor linear_in_grad(const Tensor& r, const Tensor& g, std::function<Tensor(const Tensor&)> adjoint, const char* name);

// A fused node's gradients under create_graph (Note [Double backward]): `forward` computes the node's
// output again from differentiable ops over `inputs` (one per edge of `node`, the saved tensors the
// edges came from; null where not needed), and a nested pass differentiates it with create_graph.
std::vector<Tensor> grads_by_recompute(const Node& node, const std::vector<Tensor>& inputs,
                                       const std::function<Tensor()>& forward, const Tensor& grad);
// ...for a node of several outputs: `forward` returns them all (null where the op has none), `grads`
// their incoming gradients (null: none flows into that output).
std::vector<Tensor> grads_by_recompute(const Node& node, const std::vector<Tensor>& inputs,
                                       const std::function<std::vector<Tensor>()>& forward,
                                       const std::vector<Tensor>& grads);

std::string tensor_type_str(const Tensor& t);  // "ember.FloatTensor [2, 3]", for messages

// A differentiable op whose gradient is zero everywhere (sign, round, a random sample of its
// parameters): the result stays in the graph, as torch's, and its input's gradient is zeros.
struct ZeroGradBackward : Node {
  const char* nm;
  explicit ZeroGradBackward(const char* n) : nm(n) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override;  // (ops/unary.cpp)
  std::string name() const override { return nm; }
  bool differentiable() const override { return true; }
};

}  // namespace ember
