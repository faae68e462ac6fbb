// Note [Capture]: how ember.compile records a step and why a replay gives eager's results.
//
// Recording. While a Recorder is active on a thread, every binding that computes on tensors (the
// op table's dispatch, the fused nn calls, backward, factories, grad-mode switches, setting .grad
// or .data, indexing) hands the call to capture::call (or records its own Step): the call runs as
// usual and is kept as a Step holding its non-tensor arguments by value and its tensors as slots
// of a Frame. A slot is an input of the program (an argument of the compiled function), a
// constant (a tensor that existed before the recording started: a parameter, a buffer, a data
// tensor), or the result of an earlier Step. A tensor that appears as an operand but was made
// during the recording by something that is not a recorded call (Note [Capture serial]) fails the
// recording: its value would not be reproduced. So does any call that cannot be replayed (reading
// a tensor's value into Python, an explicit Generator, a Python autograd Function, a hook); the
// Python side (src/ember/_dynamo/capture.py) adds its own reasons (Python side effects, Python
// randomness) and the guards.
//
// Replay. Program::run puts the inputs and constants in their slots and runs the Steps in order:
// the same kernels, on tensors of the same shapes, strides and dtypes, with the same scalars, in
// the same order as the recorded call did, building the same autograd graph, drawing from the
// same generators. Results are therefore eager's bit for bit, provided the replay is only used
// when nothing the recording depended on changed: the guards (Program::mismatch for tensors, the
// Python side for everything else). A slot's tensor is released after the last Step that reads it,
// so memory is freed as eager frees it. Opaque steps call back into Python (an optimizer's step()).
#include "ember/capture/capture.h"

#include <atomic>

#include "ember/autograd/node.h"

namespace ember {
std::atomic<int> g_capture_recorders{0};
std::atomic<uint64_t> g_capture_serial{0};
}  // namespace ember

namespace ember::capture {

namespace {
thread_local Recorder* t_active = nullptr;
}

Recorder::Recorder(const std::vector<Tensor>& inputs) : prog_(std::make_shared<Program>()) {
  g_capture_recorders.fetch_add(1);
  start_serial_ = g_capture_serial.load() + 1;
  prev_ = t_active;
  t_active = this;
  prog_->grad_mode = GradMode::is_enabled();
  prog_->n_inputs = (int)inputs.size();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    int alias = -1;
    for (size_t j = 0; j < i && alias < 0; ++j)
      if (inputs[j]->storage == t->storage) alias = (int)j;
    prog_->input_alias.push_back(alias);
    prog_->input_meta.push_back(Meta::of(t));
    prog_->n_slots++;
    last_use_.push_back(-1);
    held_.push_back(t);
    if (!slot_of_.count(t.get())) slot_of_[t.get()] = (int)i;
  }
}

Recorder::~Recorder() {
  if (t_active == this) t_active = prev_;
  g_capture_recorders.fetch_sub(1);
}

Recorder* Recorder::active() { return t_active; }
Recorder* Recorder::pause() {
  Recorder* r = t_active;
  t_active = nullptr;
  return r;
}
void Recorder::resume(Recorder* r) { t_active = r; }

int Recorder::slot_for(const Tensor& t) {
  int s = prog_->n_slots++;
  prog_->work += t->numel();
  slot_of_[t.get()] = s;
  held_.push_back(t);
  last_use_.push_back(-1);
  return s;
}

int Recorder::in(const Tensor& t) {
  if (!t) return -1;
  auto it = slot_of_.find(t.get());
  if (it != slot_of_.end()) return it->second;
  if (t->serial >= start_serial_ && !t->wrapped_number) {
    fail("a tensor made during the recording by a call ember cannot record (shape " + shape_str(t->shape) +
         ") was used by a recorded call");
    return -1;
  }
  return constant(t);
}

int Recorder::constant(const Tensor& t) {
  if (!t) return -1;
  auto it = slot_of_.find(t.get());
  if (it != slot_of_.end()) return it->second;
  int s = slot_for(t);
  prog_->consts.push_back({s, t});
  prog_->const_meta.push_back(Meta::of(t));
  return s;
}

int Recorder::out(const Tensor& t) {
  if (!t) return -1;
  return slot_for(t);  // a result that is also an operand (x.contiguous()) gets a slot of its own
}

void Recorder::add(const std::string& name, Step s, std::vector<int> uses) {
  const int i = (int)prog_->steps.size();
  for (int u : uses)
    if (u >= 0) last_use_[u] = i;
  prog_->steps.push_back(std::move(s));
  prog_->names.push_back(name);
}

void Recorder::after_backward() {
  // Every tensor the recording knows that now holds a gradient it did not hold as a known tensor
  // (the backward made it): that gradient becomes a result, read back from .grad on replay.
  const size_t n = held_.size();
  for (size_t i = 0; i < n; ++i) {
    const Tensor t = held_[i];
    if (!t->grad || slot_of_.count(t->grad.get())) continue;
    if (t->grad->serial < start_serial_) continue;  // an older gradient: a constant if used
    const int src = slot_of_.at(t.get());
    const int dst = slot_for(t->grad);
    add(".grad", [src, dst](Frame& f) { f.slot[dst] = f.slot[src]->grad; }, {src});
  }
}

void Recorder::read_grad(const Tensor& t) {
  if (!t->grad || slot_of_.count(t->grad.get())) return;
  const int src = in(t);
  if (src < 0) return;
  const int dst = slot_for(t->grad);
  add(".grad", [src, dst](Frame& f) {
    f.slot[dst] = f.slot[src]->grad;
    if (!f.slot[dst])  // the step's .grad reads are replayed only where the recording found one
      throw std::runtime_error(
          "ember.compile: a replayed step read .grad of a tensor that has none now, though it had one when the "
          "step was recorded (a gradient set to None outside the compiled function); call it with the same "
          "gradients present, or compile a function that makes them");
  }, {src});
}

void Recorder::value_read(const Tensor& t, const std::string& why) {
  reads_.push_back({in(t), (int)prog_->steps.size()});
  if (read_why_.empty()) read_why_ = why;
}

std::shared_ptr<Program> Recorder::finish(const std::vector<Tensor>& outputs) {
  for (auto& t : outputs) prog_->outputs.push_back(in(t));
  for (auto& [s, before] : reads_) {
    if (before < (int)prog_->steps.size()) fail(read_why_ + " before the step's last tensor call");
    prog_->reads.push_back(s);
  }
  if (!why_.empty()) return nullptr;
  for (int s : prog_->outputs)
    if (s >= 0) last_use_[s] = (int)prog_->steps.size();  // kept to the end
  for (int s : prog_->reads)
    if (s >= 0) last_use_[s] = (int)prog_->steps.size();
  prog_->drop_after.assign(prog_->steps.size(), {});
  for (int s = prog_->n_inputs; s < prog_->n_slots; ++s)
    if (last_use_[s] >= 0 && last_use_[s] < (int)prog_->steps.size()) prog_->drop_after[last_use_[s]].push_back(s);
  return prog_;
}

std::string Program::mismatch(const std::vector<Tensor>& inputs) const {
  if ((int)inputs.size() != n_inputs) return "the number of tensor arguments changed";
  if (GradMode::is_enabled() != grad_mode) return "grad mode changed";
  for (int i = 0; i < n_inputs; ++i) {
    if (!(Meta::of(inputs[i]) == input_meta[i]))
      return "tensor argument " + std::to_string(i) + " changed (shape " + shape_str(inputs[i]->shape) +
             ", strides, dtype, requires_grad or history)";
    int alias = -1;
    for (int j = 0; j < i && alias < 0; ++j)
      if (inputs[j]->storage == inputs[i]->storage) alias = j;
    if (alias != input_alias[i]) return "tensor argument " + std::to_string(i) + " shares memory differently";
  }
  for (size_t k = 0; k < consts.size(); ++k)
    if (!(Meta::of(consts[k].second) == const_meta[k]))
      return "a tensor the step uses (shape " + shape_str(consts[k].second->shape) +
             ") changed its shape, strides, dtype, requires_grad or history";
  return "";
}

std::vector<Tensor> Program::run(const std::vector<Tensor>& inputs, std::function<void(int)> py_call) const {
  Frame f;
  f.slot.resize(n_slots);
  f.py_call = std::move(py_call);
  for (int i = 0; i < n_inputs; ++i) f.slot[i] = inputs[i];
  for (auto& [s, t] : consts) f.slot[s] = t;
  for (size_t i = 0; i < steps.size(); ++i) {
    steps[i](f);
    for (int s : drop_after[i]) f.slot[s].reset();
  }
  std::vector<Tensor> out;
  out.reserve(outputs.size() + reads.size());
  for (int s : outputs) out.push_back(f.at(s));
  for (int s : reads) out.push_back(f.at(s));
  return out;
}

}  // namespace ember::capture
