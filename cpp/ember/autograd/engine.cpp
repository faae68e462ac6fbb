// The backward engine: dependency counting with an explicit stack, a ready queue, per-node
// gradient buffers. Nothing recurses: neither graph traversal nor node destruction.
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

void SavedTensor::save(const Tensor& x, bool is_output) {
  t = is_output ? make_view(x, x->shape, x->strides, x->offset) : x;
  version = x->version();
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

std::vector<Tensor> run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                                 bool keep_graph, bool accumulate, const std::vector<Tensor>& inputs,
                                 bool allow_unused) {
  // The bindings call this without the GIL: one backward at a time (nodes carry the engine's
  // scratch, and a leaf shared by two graphs accumulates into one .grad). Recursive, because a
  // Python Function's backward may itself call backward.
  static std::recursive_mutex engine_mutex;
  std::lock_guard<std::recursive_mutex> lock(engine_mutex);
  NoGradGuard no_grad;
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

  // Count dependencies over everything reachable; `visited` keeps the nodes alive and lets the
  // guard clear the scratch fields however the run ends.
  std::vector<std::shared_ptr<Node>> visited;
  struct Reset {
    std::vector<std::shared_ptr<Node>>& v;
    ~Reset() {
      for (auto& n : v) n->bw_deps = -1, n->bw_buffer.clear();
    }
  } reset{visited};
  std::vector<Node*> stack;
  for (auto& re : root_edges) {
    Node* n = re.first.fn.get();
    if (n->bw_deps < 0) {
      n->bw_deps = 0;
      visited.push_back(re.first.fn);
      stack.push_back(n);
    }
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->next) {
      if (!e.fn) continue;
      if (e.fn->bw_deps < 0) {
        e.fn->bw_deps = 1;
        visited.push_back(e.fn);
        stack.push_back(e.fn.get());
      } else {
        e.fn->bw_deps++;
      }
    }
  }

  // Gradients requested by autograd.grad(): captured where they enter the input's edge.
  std::vector<Edge> input_edges;
  std::vector<Tensor> captured(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]->requires_grad)
      throw std::runtime_error("One of the differentiated Tensors does not require grad");
    input_edges.push_back(gradient_edge(inputs[i]));
  }

  std::vector<Node*> ready;
  for (auto& re : root_edges) {
    Node* n = re.first.fn.get();
    if (n->bw_buffer.empty()) n->bw_buffer.resize(n->num_outputs);
    add_to(n->bw_buffer[re.first.input_nr], re.second);
  }
  for (auto& re : root_edges)
    if (re.first.fn->bw_deps == 0 && std::find(ready.begin(), ready.end(), re.first.fn.get()) == ready.end())
      ready.push_back(re.first.fn.get());

  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    std::vector<Tensor> in = std::move(node->bw_buffer);
    node->bw_buffer.clear();
    if (in.empty()) in.resize(node->num_outputs);

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
      if (auto t = w.lock(); t && nr < in.size() && in[nr]) {
        Tensor g = in[nr];
        Tensor prev = t->grad;
        if (prev && is_storage_only(prev->dtype)) prev = cast_nograd(prev, compute_type(prev->dtype));
        t->grad = prev ? add(prev, g) : clone(g);
        if (t->grad->dtype != t->dtype) t->grad = cast_nograd(t->grad, t->dtype);
      }

    bool any = false;
    for (auto& g : in) any |= (bool)g;
    std::vector<Tensor> out;
    bool is_acc = dynamic_cast<AccumulateGrad*>(node) != nullptr;
    if (any && (accumulate || !is_acc)) out = node->apply(in);
    if (!keep_graph && !is_acc) {
      node->release_saved();
      node->released = true;
    }
    for (size_t i = 0; i < node->next.size(); ++i) {
      const Edge& e = node->next[i];
      if (!e.fn) continue;
      Node* c = e.fn.get();
      if (i < out.size() && out[i]) {
        if (c->bw_buffer.empty()) c->bw_buffer.resize(c->num_outputs);
        add_to(c->bw_buffer[e.input_nr], out[i]);
      }
      if (--c->bw_deps == 0) ready.push_back(c);
    }
  }

  for (size_t i = 0; i < captured.size(); ++i)
    if (captured[i] && captured[i]->dtype != inputs[i]->dtype) captured[i] = cast_nograd(captured[i], inputs[i]->dtype);
  if (!accumulate)
    for (size_t i = 0; i < captured.size(); ++i)
      if (!captured[i] && !allow_unused)
        throw std::runtime_error("One of the differentiated Tensors appears to not have been used in the graph. "
                                 "Set allow_unused=True if this is the desired behavior.");
  return captured;
}

}  // namespace ember
