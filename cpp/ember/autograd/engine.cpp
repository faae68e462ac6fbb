// The backward engine: dependency counting with an explicit stack, a ready queue, per-node
// gradient buffers kept in the run's GraphTask (Note [Engine per run]). Nothing recurses: neither
// graph traversal nor node destruction.
#include <algorithm>
#include <atomic>
#include <mutex>

#include "ember/autograd/node.h"
#include "ember/ops/ops.h"

namespace ember {

namespace {
thread_local bool grad_enabled = true;
}
bool GradMode::is_enabled() { return grad_enabled; }
void GradMode::set_enabled(bool on) { grad_enabled = on; }

std::string tensor_type_str(const Tensor& t) {
  const char* n = t->dtype == DType::Float32 ? "FloatTensor"
                  : t->dtype == DType::Float64 ? "DoubleTensor"
                  : t->dtype == DType::Int64 ? "LongTensor" : "BoolTensor";
  return std::string("ember.") + n + " " + shape_str(t->shape);
}

void SavedTensor::save(const Tensor& x, bool is_out) {
  t = is_out ? make_view(x, x->shape, x->strides, x->offset) : x;
  version = x->version();
  is_output = is_out;
  output_nr = x->output_nr;
}

Tensor SavedTensor::get(const Node& owner) const {
  if (owner.released)
    throw std::runtime_error(
        "Trying to backward through the graph a second time (or directly access saved tensors after they "
        "have already been freed). Saved intermediate values of the graph are freed when you call "
        ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
        "graph a second time or if you need to access saved tensors after calling backward.");
  if (t && t->version() != version)
    throw std::runtime_error(
        "one of the variables needed for gradient computation has been modified by an inplace operation: [" +
        tensor_type_str(t) + "], which is used by " + owner.name() + ", is at version " +
        std::to_string(t->version()) + "; expected version " + std::to_string(version) + " instead.");
  if (is_output && t && GradMode::is_enabled()) {
    // A double backward differentiates through the output as well: unpack it with its grad_fn (the owner),
    // as torch's SavedVariable does; the alias is made per unpack, so no cycle is stored.
    Tensor o = make_view(t, t->shape, t->strides, t->offset);
    set_history(o, const_cast<Node&>(owner).shared_from_this(), output_nr);
    return o;
  }
  return t;
}

// Note [Iterative destruction]: freeing the last reference to a long chain would recurse once per
// node (pytorch#5534). Children about to die are parked on a thread-local stack and freed in a loop.
Node::~Node() {
  thread_local std::vector<std::shared_ptr<Node>> pending;
  thread_local bool draining = false;
  for (auto& e : next)
    if (e.fn && e.fn.use_count() == 1) pending.push_back(std::move(e.fn));
  next.clear();
  if (draining) return;
  draining = true;
  while (!pending.empty()) {
    auto n = std::move(pending.back());
    pending.pop_back();
    n.reset();
  }
  draining = false;
}

namespace {
std::atomic<int64_t> g_next_hook_id{1};
}
int64_t register_hook(const Tensor& t, GradHook hook) {
  if (!t->requires_grad) throw std::runtime_error("cannot register a hook on a tensor that doesn't require gradient");
  const int64_t id = g_next_hook_id++;
  if (t->grad_fn) {
    t->grad_fn->hooks.push_back({t->output_nr, {id, std::move(hook)}});
  } else {
    if (!t->leaf_hooks) t->leaf_hooks = std::make_shared<GradHooks>();
    t->leaf_hooks->list.push_back({id, std::move(hook)});
  }
  return id;
}
void remove_hook(const Tensor& t, int64_t id) {
  if (t->leaf_hooks)
    for (auto it = t->leaf_hooks->list.begin(); it != t->leaf_hooks->list.end(); ++it)
      if (it->first == id) { t->leaf_hooks->list.erase(it); return; }
  if (t->grad_fn)
    for (auto it = t->grad_fn->hooks.begin(); it != t->grad_fn->hooks.end(); ++it)
      if (it->second.first == id) { t->grad_fn->hooks.erase(it); return; }
}
Tensor run_hooks(const std::vector<std::pair<int64_t, GradHook>>& hooks, Tensor g) {
  for (size_t k = 0; k < hooks.size(); ++k) {  // by index: a hook may register another
    GradHook h = hooks[k].second;
    Tensor r = h(g);
    if (r) {
      if (r->shape != g->shape)
        throw std::runtime_error("hook has changed the size of value (got " + shape_str(r->shape) + ", expected " +
                                 shape_str(g->shape) + ")");
      g = r;
    }
  }
  return g;
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>& grads) {
  Tensor& g = grads[0];
  if (!g) return {};
  if (variable->leaf_hooks && !variable->leaf_hooks->list.empty()) {
    auto hooks = variable->leaf_hooks->list;  // a copy: hooks may remove themselves
    g = run_hooks(hooks, g);
  }
  Tensor& var = variable;
  if (GradMode::is_enabled()) {
    // create_graph=True: .grad keeps the gradient's graph, and a second gradient is added out of place
    // (torch's AccumulateGrad under grad mode), so a graph built on the old .grad stays valid.
    if (g->dtype != var->dtype) g = to_dtype(g, var->dtype);
    if (g->shape != var->shape) g = sum_to(g, var->shape);
    var->grad = var->grad ? add(var->grad, g) : clone(g);
    return {};
  }
  if (g->dtype != var->dtype) g = cast_nograd(g, var->dtype);
  if (g->shape != var->shape) g = sum_to(g, var->shape);
  if (!var->grad) {
    // Steal the buffer when nobody else holds it; otherwise copy so .grad never aliases a graph value.
    var->grad = (g.use_count() == 1 && g->is_contiguous() && !g->wrapped_number) ? g : clone(g);
    var->grad->requires_grad = false;
    var->grad->grad_fn.reset();
  } else if (is_storage_only(var->grad->dtype)) {  // Note [Storage dtypes]: summed in the compute dtype
    Tensor acc = var->grad;
    Tensor c = compute_type(acc->dtype) == acc->dtype ? acc : cast_nograd(acc, compute_type(acc->dtype));
    copy_into(acc, add(c, cast_nograd(g, c->dtype)));
    acc->bump_version();
  } else {
    Tensor acc = var->grad;
    add_(acc, g);
  }
  return {};
}

Edge gradient_edge(const Tensor& t) {
  if (t->grad_fn) return Edge{t->grad_fn, t->output_nr};
  if (!t->requires_grad) return Edge{};
  // A leaf shared by ops running without the GIL in several threads: one accumulator, made once.
  // A spinlock: held for a few instructions, and uncontended it costs two atomics (a mutex
  // showed on the per-op overhead of `a + b`).
  static std::atomic<bool> busy{false};
  while (busy.exchange(true, std::memory_order_acquire)) {
  }
  std::shared_ptr<Node> acc;
  try {
    acc = t->grad_accumulator.lock();
    if (!acc) {
      acc = std::make_shared<AccumulateGrad>(t);
      t->grad_accumulator = acc;
    }
  } catch (...) {
    busy.store(false, std::memory_order_release);
    throw;
  }
  busy.store(false, std::memory_order_release);
  return Edge{acc, 0};
}

void collect_next_edges(Node& node, std::initializer_list<const Tensor*> inputs) {
  node.next.reserve(inputs.size());
  for (auto* t : inputs) node.next.push_back((*t && (*t)->requires_grad) ? gradient_edge(*t) : Edge{});
}

void set_history(const Tensor& out, const std::shared_ptr<Node>& node, uint32_t nr) {
  out->grad_fn = node;
  out->output_nr = nr;
  out->requires_grad = true;
}

namespace {

// Note [Engine per run]: one backward pass's scratch. Each node it reaches gets a slot (kept alive
// by it): the dependencies still pending and the gradients gathered so far. Nothing of a run is
// written into the graph, so passes over disjoint graphs (two threads training two models) share no
// state. Nodes are found by address: a linear scan while the graph is small (a training step's
// few fused nodes), an open-addressing table past kScan nodes.
struct GraphTask {
  struct Slot {
    std::shared_ptr<Node> node;
    int32_t deps = 0;
    std::vector<Tensor> buffer;
  };
  static constexpr size_t kScan = 8;
  std::vector<Slot> slots;
  std::vector<std::pair<Node*, int32_t>> table;  // empty while slots.size() <= kScan

  GraphTask() { slots.reserve(kScan); }
  static size_t hash(const Node* p) {
    uint64_t x = reinterpret_cast<uintptr_t>(p);
    x ^= x >> 29;
    return (size_t)(x * 0xbf58476d1ce4e5b9ULL >> 17);
  }
  int32_t find(const Node* n) const {
    if (table.empty()) {
      for (size_t i = 0; i < slots.size(); ++i)
        if (slots[i].node.get() == n) return (int32_t)i;
      return -1;
    }
    const size_t m = table.size() - 1;
    for (size_t i = hash(n) & m;; i = (i + 1) & m) {
      if (table[i].first == n) return table[i].second;
      if (!table[i].first) return -1;
    }
  }
  void place(Node* n, int32_t v) {
    const size_t m = table.size() - 1;
    size_t i = hash(n) & m;
    while (table[i].first) i = (i + 1) & m;
    table[i] = {n, v};
  }
  // The slot of `n`, made (with no dependencies yet) when the run first reaches it; `fresh` says so.
  int32_t slot_of(const std::shared_ptr<Node>& n, bool& fresh) {
    int32_t k = find(n.get());
    fresh = k < 0;
    if (!fresh) return k;
    k = (int32_t)slots.size();
    slots.push_back({n, 0, {}});
    if (slots.size() > kScan && 2 * slots.size() > table.size()) {  // (re)build the table at half load
      table.assign(std::max<size_t>(64, table.size() * 2), {nullptr, -1});
      for (size_t i = 0; i < slots.size(); ++i) place(slots[i].node.get(), (int32_t)i);
    } else if (!table.empty()) {
      place(n.get(), k);
    }
    return k;
  }
};

// The gradients of a node with no differentiable backward, under create_graph=True (Note [Double
// backward]): they depend on the node's inputs and on its incoming gradients, and differentiating them
// raises instead of treating them as constants.
struct NotDifferentiableBackward : Node {
  std::string of;
  explicit NotDifferentiableBackward(std::string n) : of(std::move(n)) {}
  std::vector<Tensor> apply(std::vector<Tensor>&) override {
    throw std::runtime_error("derivative for " + of +
                             " is not implemented: ember has no double backward for this op (create_graph=True "
                             "differentiates through the ops listed in docs/architecture.md)");
  }
  std::string name() const override { return "NotImplemented"; }
};

void mark_not_differentiable(Node& node, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
  auto nd = std::make_shared<NotDifferentiableBackward>(node.name());
  nd->next = node.next;
  for (auto& g : in)
    if (g && g->requires_grad) nd->next.push_back(gradient_edge(g));
  nd->num_outputs = (uint32_t)out.size();
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i]) {
      Tensor r = make_view(out[i], out[i]->shape, out[i]->strides, out[i]->offset);
      set_history(r, nd, (uint32_t)i);
      out[i] = r;
    }
}

}  // namespace

std::vector<Tensor> run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                                 bool keep_graph, bool accumulate, const std::vector<Tensor>& inputs,
                                 bool allow_unused, bool create_graph, bool stop_at_inputs) {
  // The bindings call this without the GIL. Passes run concurrently (Note [Engine per run]); a
  // Python Function's backward may itself call backward (a nested pass with its own task).
  // Grad mode is on during the pass exactly when it builds a graph of its own (Note [Double backward]).
  const bool prev_mode = GradMode::is_enabled();
  GradMode::set_enabled(create_graph);
  struct Restore {
    bool m;
    ~Restore() { GradMode::set_enabled(m); }
  } restore{prev_mode};
  // Note [Storage dtypes]: gradients flow between nodes in compute dtypes (a float16 gradient is
  // carried as float32), so every backward formula sees the dtypes its kernels have; they are
  // cast to the tensor's own dtype where they leave the engine (.grad, autograd.grad's results).
  auto add_to = [](Tensor& slot, const Tensor& g0) {
    Tensor g = is_storage_only(g0->dtype) ? cast_nograd(g0, compute_type(g0->dtype)) : g0;
    slot = slot ? add(slot, g) : g;
  };

  // Root gradients.
  std::vector<std::pair<Edge, Tensor>> root_edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    if (!r->requires_grad)
      throw std::runtime_error("element " + std::to_string(i) +
                               " of tensors does not require grad and does not have a grad_fn");
    Tensor g = grads[i];
    if (!g) {
      if (r->numel() != 1)
        throw std::runtime_error("grad can be implicitly created only for scalar outputs (got a tensor of shape " +
                                 shape_str(r->shape) + ")");
      g = ones(r->shape, r->dtype);
    } else if (g->shape != r->shape) {
      throw std::runtime_error("Mismatch in shape: grad_output[" + std::to_string(i) + "] has a shape of " +
                               shape_str(g->shape) + " and output[" + std::to_string(i) + "] has a shape of " +
                               shape_str(r->shape) + ".");
    }
    root_edges.push_back({gradient_edge(r), g});
  }

  // Gradients requested by autograd.grad(): captured where they enter the input's edge.
  std::vector<Edge> input_edges;
  std::vector<Tensor> captured(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]->requires_grad)
      throw std::runtime_error("One of the differentiated Tensors does not require grad");
    input_edges.push_back(gradient_edge(inputs[i]));
  }
  auto is_input_node = [&](const Node* n) {
    for (auto& e : input_edges)
      if (e.fn.get() == n) return true;
    return false;
  };

  // Count dependencies over everything reachable (with stop_at_inputs, not past the inputs' nodes).
  GraphTask task;
  std::vector<int32_t> stack;
  bool fresh;
  for (auto& re : root_edges) {
    int32_t k = task.slot_of(re.first.fn, fresh);
    if (fresh) stack.push_back(k);
  }
  while (!stack.empty()) {
    Node* n = task.slots[stack.back()].node.get();
    stack.pop_back();
    if (stop_at_inputs && is_input_node(n)) continue;
    for (auto& e : n->next) {
      if (!e.fn) continue;
      int32_t k = task.slot_of(e.fn, fresh);
      task.slots[k].deps++;
      if (fresh) stack.push_back(k);
    }
  }


  auto is_input = [&](const TensorImpl* t) {
    for (auto& x : inputs)
      if (x.get() == t) return true;
    return false;
  };
  // a non-leaf's .grad (retain_grad, backward(inputs=...)): summed out of place, in the tensor's dtype
  auto accumulate_nonleaf = [](const Tensor& t, const Tensor& g) {
    Tensor prev = t->grad;
    if (prev && is_storage_only(prev->dtype)) prev = cast_nograd(prev, compute_type(prev->dtype));
    t->grad = prev ? add(prev, g) : clone(g);
    if (t->grad->dtype != t->dtype) t->grad = cast_nograd(t->grad, t->dtype);
  };

  // With inputs (autograd.grad, backward(inputs=...)) only the nodes that lead to one of them run, as
  // torch's: a node is needed when it is an input's node or has a needed child (a post-order walk).
  std::vector<char> needed;
  if (!inputs.empty()) {
    const size_t n = task.slots.size();
    needed.assign(n, 0);
    std::vector<char> done(n, 0);
    std::vector<std::pair<int32_t, size_t>> walk;  // (slot, next edge to visit)
    for (auto& re : root_edges) {
      const int32_t r = task.find(re.first.fn.get());
      if (done[r]) continue;
      done[r] = 1;
      walk.push_back({r, 0});
      while (!walk.empty()) {
        auto& [k, i] = walk.back();
        Node* node = task.slots[k].node.get();
        const bool expand = !(stop_at_inputs && is_input_node(node));
        if (expand && i < node->next.size()) {
          const Edge& e = node->next[i++];
          if (!e.fn) continue;
          const int32_t c = task.find(e.fn.get());
          if (c >= 0 && !done[c]) {
            done[c] = 1;
            walk.push_back({c, 0});
          }
          continue;
        }
        char need = is_input_node(node);
        if (expand)
          for (auto& e : node->next)
            if (e.fn) {
              const int32_t c = task.find(e.fn.get());
              need |= c >= 0 && needed[c];
            }
        needed[k] = need;
        walk.pop_back();
      }
    }
  }

  std::vector<int32_t> ready;
  for (auto& re : root_edges) {
    auto& slot = task.slots[task.find(re.first.fn.get())];
    if (slot.buffer.empty()) slot.buffer.resize(slot.node->num_outputs);
    add_to(slot.buffer[re.first.input_nr], re.second);
  }
  for (auto& re : root_edges) {
    int32_t k = task.find(re.first.fn.get());
    if (task.slots[k].deps == 0 && std::find(ready.begin(), ready.end(), k) == ready.end()) ready.push_back(k);
  }

  while (!ready.empty()) {
    const int32_t k = ready.back();
    ready.pop_back();
    Node* node = task.slots[k].node.get();
    if (!needed.empty() && !needed[k]) continue;  // leads to no input: neither runs nor feeds its children
    std::vector<Tensor> in = std::move(task.slots[k].buffer);
    if (in.empty()) in.resize(node->num_outputs);
    if (stop_at_inputs && is_input_node(node)) {  // a recompute's input: only its gradient is wanted
      for (size_t i = 0; i < input_edges.size(); ++i)
        if (input_edges[i].fn.get() == node && input_edges[i].input_nr < in.size()) captured[i] = in[input_edges[i].input_nr];
      continue;
    }

    std::vector<Tensor> out;
    {
      std::lock_guard<std::mutex> node_lock(node->mu);
      if (!node->hooks.empty()) {
        auto hooks = node->hooks;  // a copy: hooks may remove themselves
        for (auto& [nr, h] : hooks)
          if (nr < in.size() && in[nr]) in[nr] = run_hooks({h}, in[nr]);
      }
      for (size_t i = 0; i < input_edges.size(); ++i)
        if (input_edges[i].fn.get() == node && input_edges[i].input_nr < in.size() && in[input_edges[i].input_nr]) {
          Tensor g = in[input_edges[i].input_nr];
          if (!accumulate && inputs[i]->leaf_hooks && !inputs[i]->leaf_hooks->list.empty()) {
            auto hooks = inputs[i]->leaf_hooks->list;
            g = run_hooks(hooks, g);
          }
          captured[i] = g;
        }
      for (auto& [nr, w] : node->retained)
        if (auto t = w.lock(); t && nr < in.size() && in[nr] && !(accumulate && is_input(t.get())))
          accumulate_nonleaf(t, in[nr]);

      bool any = false;
      for (auto& g : in) any |= (bool)g;
      bool is_acc = dynamic_cast<AccumulateGrad*>(node) != nullptr;
      // backward(inputs=...): only the given tensors accumulate (a non-leaf's .grad is set here)
      bool run_acc = accumulate;
      if (accumulate && !inputs.empty()) {
        run_acc = false;
        for (size_t i = 0; i < input_edges.size(); ++i)
          if (input_edges[i].fn.get() == node) {
            if (is_acc) run_acc = true;
            else if (captured[i]) accumulate_nonleaf(inputs[i], captured[i]);
          }
      }
      if (any && (run_acc || !is_acc)) {
        if (create_graph && !is_acc && !node->differentiable()) {
          {
            NoGradGuard no_grad;
            out = node->apply(in);
          }
          mark_not_differentiable(*node, in, out);
        } else {
          out = node->apply(in);
        }
      }
      if (!keep_graph && !is_acc) {
        node->release_saved();
        node->released = true;
      }
    }
    for (size_t i = 0; i < node->next.size(); ++i) {
      const Edge& e = node->next[i];
      if (!e.fn) continue;
      const int32_t c = task.find(e.fn.get());
      auto& child = task.slots[c];
      if (i < out.size() && out[i]) {
        if (child.buffer.empty()) child.buffer.resize(child.node->num_outputs);
        add_to(child.buffer[e.input_nr], out[i]);
      }
      if (--child.deps == 0) ready.push_back(c);
    }
  }

  for (size_t i = 0; i < captured.size(); ++i)
    if (captured[i] && captured[i]->dtype != inputs[i]->dtype)
      captured[i] = create_graph ? to_dtype(captured[i], inputs[i]->dtype) : cast_nograd(captured[i], inputs[i]->dtype);
  if (!accumulate)
    for (size_t i = 0; i < captured.size(); ++i)
      if (!captured[i] && !allow_unused)
        throw std::runtime_error("One of the differentiated Tensors appears to not have been used in the graph. "
                                 "Set allow_unused=True if this is the desired behavior.");
  return captured;
}

}  // namespace ember

namespace ember {

namespace {
struct AdjointBackward : Node {
  std::function<Tensor(const Tensor&)> adjoint;
  const char* nm;
  AdjointBackward(std::function<Tensor(const Tensor&)> a, const char* n) : adjoint(std::move(a)), nm(n) {}
  std::vector<Tensor> apply(std::vector<Tensor>& g) override { return {adjoint(g[0])}; }
  std::string name() const override { return nm; }
  void release_saved() override { adjoint = nullptr; }
};
}  // namespace

Tensor linear_in_grad(const Tensor& r, const Tensor& g, std::function<Tensor(const Tensor&)> adjoint, const char* name) {
  if (!r || !GradMode::is_enabled() || !g->requires_grad) return r;
  auto n = make_node<AdjointBackward>({&g}, std::move(adjoint), name);
  set_history(r, n);
  return r;
}

std::vector<Tensor> grads_by_recompute(const Node& node, const std::vector<Tensor>& inputs,
                                       const std::function<Tensor()>& forward, const Tensor& grad) {
  return grads_by_recompute(node, inputs, std::function<std::vector<Tensor>()>([&] { return std::vector<Tensor>{forward()}; }),
                            std::vector<Tensor>{grad});
}

std::vector<Tensor> grads_by_recompute(const Node& node, const std::vector<Tensor>& inputs,
                                       const std::function<std::vector<Tensor>()>& forward,
                                       const std::vector<Tensor>& grads) {
  std::vector<Tensor> r(node.next.size());
  std::vector<Tensor> want;
  std::vector<size_t> at;
  for (size_t i = 0; i < node.next.size() && i < inputs.size(); ++i)
    if (node.needs(i) && inputs[i] && inputs[i]->requires_grad) want.push_back(inputs[i]), at.push_back(i);
  if (want.empty()) return r;
  std::vector<Tensor> outs = forward(), roots, gs;
  for (size_t k = 0; k < outs.size() && k < grads.size(); ++k)
    if (outs[k] && grads[k] && outs[k]->requires_grad) roots.push_back(outs[k]), gs.push_back(grads[k]);
  if (roots.empty()) return r;
  std::vector<Tensor> got = run_backward(roots, gs, true, false, want, true, true, true);
  for (size_t k = 0; k < at.size(); ++k) r[at[k]] = got[k];
  return r;
}

}  // namespace ember
