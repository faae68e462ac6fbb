"""Weight averaging for ember models, with torch.optim.swa_utils's interface and numbers.

* ``AveragedModel`` keeps a copy of a model whose weights are a running average of the
  model's weights over training: the equal-weight average of stochastic weight averaging
  (SWA, Izmailov et al. 2018) by default, or any rule given as ``avg_fn`` (one tensor at a time)
  or ``multi_avg_fn`` (lists of tensors), e.g. an exponential moving average (EMA).
* ``get_swa_avg_fn`` / ``get_ema_avg_fn`` and their ``_multi_`` variants build those rules.
* ``update_bn`` recomputes batch-norm statistics for averaged weights with one pass over data.
* ``SWALR`` anneals the learning rate to a constant SWA rate.
"""
import itertools
import math
from copy import deepcopy

from .. import _C
from ..autograd.grad_mode import no_grad
from ..nn.modules.module import Module
from .lr_scheduler import LRScheduler, _per_group, _warn_if_outside_step
from .optimizer import _lerp_

Tensor = _C.Tensor

__all__ = ["SWALR", "AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn", "get_swa_multi_avg_fn",
           "update_bn"]


# --------------------------------------------------------------------------- averaging rules

def _check_decay(decay):
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def _as_number(x):
    return x.item() if isinstance(x, Tensor) else x


def get_ema_multi_avg_fn(decay=0.999):
    """An EMA rule over lists of tensors: ``ema <- decay * ema + (1 - decay) * current``."""
    _check_decay(decay)

    @no_grad()
    def ema_update(ema_param_list, current_param_list, _):
        floating = ema_param_list[0].is_floating_point()
        for ema, current in zip(ema_param_list, current_param_list):
            if floating:
                _lerp_(ema, current, 1 - decay)  # interpolate toward the current weights
            else:
                ema.copy_(ema * decay + current * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn():
    """The SWA rule over lists of tensors: the running mean, where `num_averaged` models are
    already in the average."""

    @no_grad()
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        if averaged_param_list[0].is_floating_point():
            # mean of n + 1 models = the n-model mean moved 1 / (n + 1) of the way to the new one
            share = _as_number(1 / (num_averaged + 1))
            for avg, current in zip(averaged_param_list, current_param_list):
                _lerp_(avg, current, share)
            return
        for avg, current in zip(averaged_param_list, current_param_list):
            if isinstance(num_averaged, Tensor):
                avg.add_((current - avg) / (num_averaged + 1))
            else:
                avg.add_(current - avg, alpha=1.0 / (num_averaged + 1))

    return swa_update


def get_ema_avg_fn(decay=0.999):
    """An EMA rule for one tensor, returning the new average."""
    _check_decay(decay)

    @no_grad()
    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn():
    """The SWA rule for one tensor, returning the new average."""

    @no_grad()
    def swa_update(averaged_param, current_param, num_averaged):
        avg, new = averaged_param, current_param
        return avg + (new - avg) / (num_averaged + 1)

    return swa_update


# --------------------------------------------------------------------------- the averaged model

class AveragedModel(Module):
    """A deep copy of `model` holding averaged weights, refreshed by ``update_parameters(model)``.

    The first update copies the model; later ones blend it in with `avg_fn` (tensor by tensor)
    or `multi_avg_fn` (per dtype, lists of tensors), by default the equal-weight SWA mean.
    Buffers are averaged too with ``use_buffers=True``; otherwise they are copied from the
    model at each update.  ``n_averaged`` (an int64 buffer) counts the updates.  `device` is
    accepted as in torch; ember computes on the CPU."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        copy = deepcopy(model)
        self.module = copy if device is None else copy.to(device)
        self.register_buffer("n_averaged", _C._scalar_tensor(0, _C.dtype.int64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        """Run the averaged copy."""
        return self.module(*args, **kwargs)

    def _tracked(self, model):
        """(averaged, model) tensor pairs that the average covers."""
        if self.use_buffers:
            ours = itertools.chain(self.module.parameters(), self.module.buffers())
            theirs = itertools.chain(model.parameters(), model.buffers())
        else:
            ours, theirs = self.parameters(), model.parameters()
        return [(a.detach(), m.detach()) for a, m in zip(ours, theirs)]

    def update_parameters(self, model):
        """Fold the current weights of `model` into the average."""
        pairs = self._tracked(model)
        with no_grad():
            if self.n_averaged.item() == 0:
                for avg, current in pairs:
                    avg.copy_(current)
            elif self.avg_fn is None or self.multi_avg_fn is not None:
                self._blend_by_dtype(pairs)
            else:
                for avg, current in pairs:
                    avg.copy_(self.avg_fn(avg, current, self.n_averaged))
            if not self.use_buffers:
                # buffers are not averaged: follow the model's
                for ours, theirs in zip(self.module.buffers(), model.buffers()):
                    ours.detach().copy_(theirs.detach())
            self.n_averaged.add_(1)

    def _blend_by_dtype(self, pairs):
        # multi_avg_fn is called once per dtype (torch: per device and dtype)
        by_dtype = {}
        for avg, current in pairs:
            averaged, currents = by_dtype.setdefault(str(avg.dtype), ([], []))
            averaged.append(avg)
            currents.append(current)
        for averaged, currents in by_dtype.values():
            if self.multi_avg_fn:
                self.multi_avg_fn(averaged, currents, self.n_averaged)
                continue
            # on the CPU torch applies the single-tensor SWA rule here
            rule = get_swa_avg_fn()
            for avg, current in zip(averaged, currents):
                avg.copy_(rule(avg, current, self.n_averaged))


# --------------------------------------------------------------------------- batch-norm statistics

def _is_batch_norm(module):
    """Whether `module` is one of ember.nn's batch-norm layers (or a subclass of one): torch's
    test is isinstance(module, nn.modules.batchnorm._BatchNorm), which excludes the
    instance-norm layers."""
    for klass in type(module).__mro__:
        if not klass.__module__.startswith("ember.nn"):
            continue
        if klass.__name__ == "_BatchNorm" or klass.__name__.startswith(("BatchNorm", "SyncBatchNorm",
                                                                           "LazyBatchNorm")):
            return True
    return False


def _forget_statistics(bn):
    if hasattr(bn, "reset_running_stats"):
        bn.reset_running_stats()
    elif bn.track_running_stats:
        bn.running_mean.zero_()
        bn.running_var.fill_(1)
        bn.num_batches_tracked.zero_()


def update_bn(loader, model, device=None):
    """Recompute the running statistics of every batch-norm layer of `model` from one pass over
    `loader`: the statistics are reset and accumulated as an equal-weight average over the
    batches (momentum None), then the layers' momenta and the model's train/eval mode are
    restored.  A batch is a tensor, or a list / tuple whose first item is the input."""
    layers = [m for m in model.modules() if _is_batch_norm(m)]
    if not layers:
        return
    with no_grad():
        saved_momenta = {}
        for bn in layers:
            _forget_statistics(bn)
            saved_momenta[bn] = bn.momentum
            bn.momentum = None
        was_training = model.training
        model.train()
        for batch in loader:
            inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
            model(inputs if device is None else inputs.to(device))
        for bn, momentum in saved_momenta.items():
            bn.momentum = momentum
        model.train(was_training)


# --------------------------------------------------------------------------- SWALR

def _clamp01(x):
    return max(0, min(1, x))


class SWALR(LRScheduler):
    """Anneals each param group's rate from its current value to `swa_lr` over `anneal_epochs`
    epochs ('cos' or 'linear'), then holds it there."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        for group, target in zip(optimizer.param_groups, _per_group("swa_lr", optimizer, swa_lr)):
            group["swa_lr"] = target
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._anneal_strategy = anneal_strategy
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t):
        """Fraction of the way to swa_lr at annealing progress t in [0, 1]."""
        if self._anneal_strategy == "cos":
            return (1 - math.cos(math.pi * t)) / 2
        return t

    def get_lr(self):
        _warn_if_outside_step(self)
        # The group's rate is where the previous step left it: undo that step's blend to find the
        # rate annealing started from, then blend again at the new progress.
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        before = self.anneal_func(_clamp01((step - 1) / span))
        now = self.anneal_func(_clamp01(step / span))
        rates = []
        for group in self.optimizer.param_groups:
            target = group["swa_lr"]
            origin = target if before == 1 else (group["lr"] - before * target) / (1 - before)
            rates.append(target * now + origin * (1 - now))
        return rates
