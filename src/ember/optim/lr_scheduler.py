"""Learning-rate schedulers for ember optimizers.

The public surface is torch.optim.lr_scheduler's (torch 2.13): the same classes, constructor
signatures and defaults, the same rates epoch by epoch, the same validation errors and warnings,
and the same ``state_dict()`` contents, so a script or a checkpointed scheduler state moves
between the two libraries unchanged.

How the module is put together
------------------------------
``LRScheduler`` holds the bookkeeping shared by every epoch-driven scheduler: it records
``initial_lr`` in each param group, counts steps, notices a scheduler stepped before its
optimizer, and writes a list of new rates into the groups (in place when a group's rate is a
one-element tensor, so the optimizer keeps seeing the same tensor object).

Most schedulers are *recurrences* (subclasses of ``_Recurrence``): the rate of the new epoch is
derived from the rate the group holds right now.  That is what lets several of them act on the
same optimizer (``ChainedScheduler``) or hand over to one another (``SequentialLR``).  A recurrence
only says how one group's rate moves at the current epoch (``_advance``) and, when the schedule has
one, the closed form from the initial rate (``_closed_form``), which ``step(epoch)`` uses.

LambdaLR, CyclicLR, OneCycleLR and CosineAnnealingWarmRestarts instead compute each epoch's rate
directly from the initial rates; ReduceLROnPlateau reacts to a metric; SequentialLR and
ChainedScheduler drive other schedulers.
"""
import functools
import math
import types
import warnings
import weakref
from bisect import bisect_right

from .._dynamo.capture import opaque
from collections import Counter
from contextlib import contextmanager

from .. import _C
from .optimizer import Optimizer, _value

Tensor = _C.Tensor

__all__ = [
    "ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR", "ExponentialLR",
    "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR", "MultiplicativeLR", "OneCycleLR", "PolynomialLR",
    "ReduceLROnPlateau", "SequentialLR", "StepLR",
]

# torch's wording, kept verbatim: scripts and tests match on it.
EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)

_GET_LAST_LR_HINT = "To get the last learning rate computed by the scheduler, please use `get_last_lr()`."
_HOW_TO_ADJUST = "See more details at https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"


# --------------------------------------------------------------------------- param-group values

def _detached(value):
    """A value the scheduler may keep: tensors are cloned, numbers are immutable anyway."""
    return value.clone() if isinstance(value, Tensor) else value


def _per_group(name, optimizer, value):
    """`value` spread over the param groups: a list or tuple gives one entry per group (and must
    have exactly that many), anything else is repeated for every group."""
    count = len(optimizer.param_groups)
    if not isinstance(value, (list, tuple)):
        value = [value] * count
    elif len(value) != count:
        raise ValueError(
            f"{name} must have the same length as optimizer.param_groups. "
            f"{name} has {len(value)} values, param_groups has {count}.")
    return [_detached(v) for v in value]


def _collect(optimizer, key):
    """The `key` entry of every param group, tensors cloned (a snapshot, not live values)."""
    return [_detached(group[key]) for group in optimizer.param_groups]


def _store(group, key, value):
    """Set a param-group entry; a tensor entry is overwritten in place instead of replaced."""
    current = group[key]
    if isinstance(current, Tensor):
        current.fill_(_value(value))
    else:
        group[key] = value


def _require_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _state_without(scheduler, *excluded):
    """The scheduler's attributes, minus the optimizer and any `excluded` names."""
    skip = ("optimizer",) + excluded
    return {name: value for name, value in vars(scheduler).items() if name not in skip}


@contextmanager
def _raised(scheduler, flag):
    """Hold a boolean attribute of the scheduler True for the duration of a block."""
    setattr(scheduler, flag, True)
    try:
        yield
    finally:
        setattr(scheduler, flag, False)


def _warn_if_outside_step(scheduler):
    """get_lr() computes the *next* rates; called by user code it is almost always a mistake."""
    if not scheduler._get_lr_called_within_step:
        warnings.warn(_GET_LAST_LR_HINT, UserWarning, stacklevel=3)


def _cos_blend(start, end, num, den):
    """Half-cosine interpolation from `start` (num = 0) to `end` (num = den)."""
    return end + (start - end) * (1 + math.cos(math.pi * num / den)) / 2


# --------------------------------------------------------------------------- optimizer.step watch

def _watch_optimizer_step(optimizer):
    """Make ``optimizer.step`` note (as ``optimizer._opt_called``) that it has run, so the first
    scheduler step can warn when it comes before any optimizer step.  The wrapper refers to the
    optimizer weakly: it is stored on the optimizer itself and a strong reference would make a
    cycle.  The attribute names are torch's, so either library's code recognises the wrapper."""
    bound = optimizer.step
    if hasattr(bound, "_wrapped_by_lr_sched"):
        return
    unbound = bound.__func__
    owner = weakref.ref(optimizer)

    @functools.wraps(unbound)
    def recording_step(*args, **kwargs):
        opt = owner()
        opt._opt_called = True
        return unbound(opt, *args, **kwargs)

    recording_step._wrapped_by_lr_sched = True
    optimizer.step = recording_step


def _check_step_order(optimizer):
    if not hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        warnings.warn(
            "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
            "initialization. Please, make sure to call `optimizer.step()` before "
            "`lr_scheduler.step()`. " + _HOW_TO_ADJUST, UserWarning, stacklevel=3)
    elif not getattr(optimizer, "_opt_called", False):
        warnings.warn(
            "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
            "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
            "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
            "will result in PyTorch skipping the first value of the learning rate schedule. "
            + _HOW_TO_ADJUST, UserWarning, stacklevel=3)


# --------------------------------------------------------------------------- base class

class LRScheduler:
    """Base class of the epoch-driven schedulers.

    A subclass sets its own attributes, calls ``super().__init__(optimizer, last_epoch)`` and
    implements ``get_lr()``, returning the rates of epoch ``self.last_epoch``, one per param
    group.  The constructor already takes the first step, so the optimizer holds the epoch-0
    rates (or, when resuming with ``last_epoch=k``, those of epoch ``k + 1``) on return.

    ``state_dict()`` is every attribute but the optimizer; the two flags below live on the
    class until a step first raises them, after which each instance carries its own copy."""

    _get_lr_called_within_step = False  # True while step() asks get_lr() for new rates
    _is_initial = False  # True during the step taken by the constructor

    # Closed form of a schedule, initial rate -> rate at self.last_epoch, for step(epoch);
    # None means the schedule has none and an explicit epoch just evaluates get_lr() there.
    _closed_form = None

    def __init__(self, optimizer, last_epoch=-1):
        _require_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", _detached(group["lr"]))
        else:
            missing = [index for index, group in enumerate(optimizer.param_groups) if "initial_lr" not in group]
            if missing:
                raise KeyError(
                    f"param 'initial_lr' is not specified in param_groups[{missing[0]}] when resuming scheduler with "
                    "last_epoch >= 0.\n"
                    "This typically happens when:\n"
                    "1. You're trying to resume training from a checkpoint but haven't properly loaded the "
                    "optimizer state\n"
                    "2. You're using last_epoch >= 0 for a fresh training run (not recommended)")
        self.base_lrs = _collect(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        _watch_optimizer_step(optimizer)
        self._initial_step()

    def _initial_step(self):
        """The step taken at construction (SequentialLR replays it for a member scheduler)."""
        self._step_count = 0
        with _raised(self, "_is_initial"):
            self.step()

    def state_dict(self):
        """Everything but the optimizer, as a dict."""
        return _state_without(self)

    def load_state_dict(self, state_dict):
        """Restore attributes saved by state_dict()."""
        vars(self).update(state_dict)

    def get_last_lr(self):
        """The rates the last step() put into the param groups."""
        return self._last_lr

    def get_lr(self):
        """The rates of epoch ``self.last_epoch``; implemented by each scheduler."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs):
        # a compiled step replays a scheduler by calling step() again (Note [Capture guards])
        super().__init_subclass__(**kwargs)
        f = cls.__dict__.get("step")
        if f is not None and not hasattr(f, "_ember_opaque"):
            cls.step = opaque(f)

    @opaque
    def step(self, epoch=None):
        """Advance one epoch (or, deprecated, jump to `epoch`) and update the param groups."""
        if self._step_count == 1:
            _check_step_order(self.optimizer)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        with _raised(self, "_get_lr_called_within_step"):
            if epoch is None:
                self.last_epoch += 1
                rates = self.get_lr()
            else:
                self.last_epoch = epoch
                rates = self._rates_at_explicit_epoch()
        self._apply(rates)

    def _rates_at_explicit_epoch(self):
        # A subclass written against torch may provide its closed form as _get_closed_form_lr().
        torch_style = getattr(self, "_get_closed_form_lr", None)
        if torch_style is not None:
            return torch_style()
        if self._closed_form is not None:
            return [self._closed_form(base) for base in self.base_lrs]
        return self.get_lr()

    def _apply(self, rates):
        groups = self.optimizer.param_groups
        rates = list(rates)
        for group, rate in zip(groups, rates):
            _store(group, "lr", rate)
        if len(rates) != len(groups):
            raise ValueError(f"{type(self).__name__} computed {len(rates)} learning rates for "
                             f"{len(groups)} param groups")
        self._last_lr = _collect(self.optimizer, "lr")


class _LRScheduler(LRScheduler):
    """Deprecated name of LRScheduler, kept for code that still subclasses it."""


class _Recurrence(LRScheduler):
    """A schedule given as a recurrence on each group's current rate.

    ``_advance(index, lr)`` returns param group `index`'s rate for epoch ``self.last_epoch``
    given the rate `lr` the group holds now, or None when the rate stays as it is.  The
    keyword `settings` become attributes before the constructor's first step needs them."""

    def __init__(self, optimizer, last_epoch=-1, **settings):
        vars(self).update(settings)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_if_outside_step(self)
        rates = []
        for index, group in enumerate(self.optimizer.param_groups):
            current = group["lr"]
            moved = self._advance(index, current)
            rates.append(_detached(current) if moved is None else moved)
        return rates

    def _advance(self, index, lr):
        raise NotImplementedError


# --------------------------------------------------------------------------- user functions

def _lambda_list(optimizer, lr_lambda):
    count = len(optimizer.param_groups)
    if not isinstance(lr_lambda, (list, tuple)):
        return [lr_lambda] * count
    if len(lr_lambda) != count:
        raise ValueError(f"Expected {count} lr_lambdas, but got {len(lr_lambda)}")
    return list(lr_lambda)


class _SavesLambdas:
    """state_dict support for ``lr_lambdas``.  Functions (lambdas included) cannot be saved and
    are stored as None; a callable object is saved as a copy of its ``__dict__``, which loading
    pours back into the corresponding callable of the receiving scheduler."""

    def state_dict(self):
        saved = _state_without(self, "lr_lambdas")
        saved["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else fn.__dict__.copy()
                               for fn in self.lr_lambdas]
        return saved

    def load_state_dict(self, state_dict):
        attributes = state_dict["lr_lambdas"]
        vars(self).update({k: v for k, v in state_dict.items() if k != "lr_lambdas"})
        for fn, saved in zip(self.lr_lambdas, attributes):
            if saved is not None:
                fn.__dict__.update(saved)


class LambdaLR(_SavesLambdas, LRScheduler):
    """Rate = initial rate * ``lr_lambda(epoch)``; `lr_lambda` is one function or a list with one
    per param group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.lr_lambdas = _lambda_list(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_if_outside_step(self)
        epoch = self.last_epoch
        return [base * fn(epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_SavesLambdas, _Recurrence):
    """Each epoch after the first, rate *= ``lr_lambda(epoch)`` (one function or one per group)."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        lambdas = _lambda_list(optimizer, lr_lambda)
        for fn in lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch, lr_lambdas=lambdas)

    def _advance(self, index, lr):
        if self._is_initial:
            return None
        return lr * self.lr_lambdas[index](self.last_epoch)


# --------------------------------------------------------------------------- decays

class StepLR(_Recurrence):
    """rate *= gamma once every `step_size` epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        super().__init__(optimizer, last_epoch, step_size=step_size, gamma=gamma)

    def _advance(self, index, lr):
        epoch = self.last_epoch
        if epoch != 0 and epoch % self.step_size == 0:
            return lr * self.gamma
        return None

    def _closed_form(self, base):
        return base * self.gamma ** (self.last_epoch // self.step_size)


class MultiStepLR(_Recurrence):
    """rate *= gamma at every milestone; a milestone listed k times multiplies by gamma ** k."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        super().__init__(optimizer, last_epoch, milestones=Counter(milestones), gamma=gamma)

    def _advance(self, index, lr):
        hits = self.milestones.get(self.last_epoch)
        return None if hits is None else lr * self.gamma ** hits

    def _closed_form(self, base):
        passed = sum(times for epoch, times in self.milestones.items() if epoch <= self.last_epoch)
        return base * self.gamma ** passed


class ConstantLR(_Recurrence):
    """The rate is scaled by `factor` for the first `total_iters` epochs, then restored."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if factor < 0 or factor > 1.0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        super().__init__(optimizer, last_epoch, factor=factor, total_iters=total_iters)

    def _advance(self, index, lr):
        if self.last_epoch == 0:
            return lr * self.factor
        if self.last_epoch == self.total_iters:
            return lr * (1.0 / self.factor)
        return None

    def _closed_form(self, base):
        finished = self.last_epoch >= self.total_iters
        return base * (self.factor + finished * (1 - self.factor))


class LinearLR(_Recurrence):
    """The rate's multiplier moves linearly from `start_factor` to `end_factor` over
    `total_iters` epochs, then stays at `end_factor`."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if start_factor <= 0 or start_factor > 1.0:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        if end_factor < 0 or end_factor > 1.0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        super().__init__(optimizer, last_epoch, start_factor=start_factor, end_factor=end_factor,
                         total_iters=total_iters)

    def _advance(self, index, lr):
        epoch = self.last_epoch
        if epoch == 0:
            return lr * self.start_factor
        if self._is_initial or epoch > self.total_iters:
            return None
        # ratio of consecutive multipliers s + (e - s) k / T and s + (e - s) (k - 1) / T
        rise = self.end_factor - self.start_factor
        return lr * (1.0 + rise / (self.total_iters * self.start_factor + (epoch - 1) * rise))

    def _closed_form(self, base):
        rise = self.end_factor - self.start_factor
        return base * (self.start_factor + rise * min(self.total_iters, self.last_epoch) / self.total_iters)


class ExponentialLR(_Recurrence):
    """rate *= gamma every epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        super().__init__(optimizer, last_epoch, gamma=gamma)

    def _advance(self, index, lr):
        return None if self._is_initial else lr * self.gamma

    def _closed_form(self, base):
        return base * self.gamma ** self.last_epoch


class PolynomialLR(_Recurrence):
    """rate = initial rate * (1 - epoch / total_iters) ** power, reaching 0 at `total_iters`."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        super().__init__(optimizer, last_epoch, total_iters=total_iters, power=power)

    def _advance(self, index, lr):
        epoch, horizon = self.last_epoch, self.total_iters
        if self._is_initial or epoch > horizon:
            return None
        return lr * ((1.0 - epoch / horizon) / (1.0 - (epoch - 1) / horizon)) ** self.power

    def _closed_form(self, base):
        return base * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power


class CosineAnnealingLR(_Recurrence):
    """Half-cosine from the initial rate down to `eta_min` over `T_max` epochs and back up over
    the next `T_max`, periodically (SGDR without restarts), in torch's recursive form: each
    epoch rescales the group's current distance to `eta_min`, so it composes with other
    schedulers acting on the same optimizer."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        super().__init__(optimizer, last_epoch, T_max=T_max, eta_min=eta_min)

    def _advance(self, index, lr):
        epoch, period, floor = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return None
        if self._step_count == 1 and epoch > 0:
            return self._closed_form(self.base_lrs[index])
        if (epoch - 1 - period) % (2 * period) == 0:
            # leaving the bottom of a cosine valley: the ratio below would divide by zero
            return lr + (self.base_lrs[index] - floor) * (1 - math.cos(math.pi / period)) / 2
        shrink = (1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1) / period))
        return shrink * (lr - floor) + floor

    def _closed_form(self, base):
        return _cos_blend(base, self.eta_min, self.last_epoch, self.T_max)


# --------------------------------------------------------------------------- schedulers of schedulers

def _check_members(owner, optimizer, schedulers):
    who = type(owner).__name__
    for index, member in enumerate(schedulers):
        if not hasattr(member, "optimizer"):
            raise TypeError(f"{who} at index {index} should have `optimizer` as its attribute.")
        if isinstance(member, ReduceLROnPlateau):
            raise ValueError(  # noqa: TRY004 (torch's exception type)
                f"{who} does not support `ReduceLROnPlateau` scheduler as it "
                "requires additional kwargs to be specified when calling `step`, "
                f"but got one at index {index} in the given schedulers sequence.")
        if optimizer != member.optimizer:
            raise ValueError(
                f"{who} expects all schedulers to belong to the same optimizer, but "
                f"got scheduler {type(member).__name__} at index {index} has {member.optimizer}, "
                f"which is different from {type(optimizer).__name__}.")


class _Composite(LRScheduler):
    """A scheduler driving the schedulers in ``self._schedulers``; their states are nested in
    its own state dict, in order."""

    def state_dict(self):
        saved = _state_without(self, "_schedulers")
        saved["_schedulers"] = [member.state_dict() for member in self._schedulers]
        return saved

    def load_state_dict(self, state_dict):
        members = state_dict["_schedulers"]
        vars(self).update({k: v for k, v in state_dict.items() if k != "_schedulers"})
        for member, saved in zip(self._schedulers, members):
            member.load_state_dict(saved)


class SequentialLR(_Composite):
    """Runs `schedulers` one after the other: the k-th takes over at ``milestones[k - 1]``,
    starting from its own epoch 0."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(schedulers) < 1:
            raise ValueError(f"{type(self).__name__} expects at least one scheduler, but got no scheduler.")
        _check_members(self, optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                f"than the number of milestone points, but got number of schedulers {len(schedulers)} and the "
                f"number of milestones to be equal to {len(milestones)}")
        self._schedulers, self._milestones = schedulers, milestones
        self.optimizer, self.last_epoch = optimizer, last_epoch + 1

        # Every member already stepped once when it was built: put the initial rates back,
        # rewind their epochs, and let only the scheduler active at epoch 0 take its first step.
        for group in optimizer.param_groups:
            _store(group, "lr", group["initial_lr"])
        self.recursive_undo()
        opening = self._schedulers[bisect_right(milestones, 0)]
        opening._initial_step()
        self._last_lr = opening.get_last_lr()

    def recursive_undo(self, sched=None):
        """Step back the epoch of every scheduler under `sched` (default: this one), descending
        into nested SequentialLR / ChainedScheduler members."""
        pending = [self if sched is None else sched]
        while pending:
            node = pending.pop()
            if hasattr(node, "_schedulers"):
                pending.extend(node._schedulers)
            elif hasattr(node, "last_epoch"):
                node.last_epoch -= 1

    def step(self):
        """One epoch of whichever member is active now."""
        self.last_epoch += 1
        epoch, milestones = self.last_epoch, self._milestones
        position = bisect_right(milestones, epoch)
        active = self._schedulers[position]
        if position > 0 and milestones[position - 1] == epoch:
            active._update_lr(0)  # taking over: start from its epoch 0
        else:
            active.step()
        self._last_lr = active.get_last_lr()


class ChainedScheduler(_Composite):
    """Steps all of `schedulers` at every step, so their (recursive) effects compound."""

    def __init__(self, schedulers, optimizer=None):
        if len(schedulers) < 1:
            raise ValueError(
                f"{type(self).__name__} expects at least one scheduler to be chained, but got no scheduler.")
        if optimizer is None:
            optimizer = schedulers[0].optimizer
        _check_members(self, optimizer, schedulers)
        self._schedulers, self.optimizer = schedulers, optimizer
        self._last_lr = _collect(schedulers[-1].optimizer, "lr")

    def step(self):
        """One step of every member, in order."""
        for member in self._schedulers:
            member.step()
        self._last_lr = _collect(self._schedulers[-1].optimizer, "lr")


# --------------------------------------------------------------------------- metric driven

class ReduceLROnPlateau(LRScheduler):
    """Multiplies the rates by `factor` (not below `min_lr`) once the metric passed to step()
    has not improved for more than `patience` epochs, then waits `cooldown` epochs before
    counting again.  Improvement means beating the best value so far by `threshold`, relative
    ('rel') or absolute ('abs'), downwards for mode 'min' and upwards for 'max'."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.factor = factor
        _require_optimizer(optimizer)
        self.optimizer = optimizer
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"expected {groups} min_lrs, got {len(min_lr)}")
            self.default_min_lr, self.min_lrs = None, list(min_lr)
        else:
            self.default_min_lr, self.min_lrs = min_lr, [min_lr] * groups
        self.patience, self.cooldown, self.eps = patience, cooldown, eps
        self.last_epoch = 0
        self._last_lr = _collect(optimizer, "lr")
        self._configure(mode, threshold, threshold_mode)
        self._reset()

    def _configure(self, mode, threshold, threshold_mode):
        if mode not in ("min", "max"):
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _improves_on_best(self, value):
        minimise = self.mode == "min"
        if self.threshold_mode == "rel":
            bar = self.best * ((1.0 - self.threshold) if minimise else (self.threshold + 1.0))
        else:
            bar = self.best - self.threshold if minimise else self.best + self.threshold
        return value < bar if minimise else value > bar

    def step(self, metrics, epoch=None):
        """Record `metrics` for the next epoch (or, deprecated, for `epoch`)."""
        value = float(metrics)
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch

        if self._improves_on_best(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:  # epochs right after a reduction do not count as bad
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._lower_rates()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = _collect(self.optimizer, "lr")

    def _lower_rates(self):
        groups = self.optimizer.param_groups
        if len(self.min_lrs) != len(groups):
            if self.default_min_lr is None:
                raise RuntimeError(
                    "The number of param groups in the `optimizer` "
                    f"({len(groups)}) differs "
                    f"from when `ReduceLROnPlateau` was initialized "
                    f"({len(self.min_lrs)}), usually due to a new "
                    "param group being added to the optimizer. Please "
                    "modify the `min_lrs` field to match the length "
                    "of the `optimizer` param groups.")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, floor in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:  # ignore reductions too small to matter
                _store(group, "lr", new)

    def load_state_dict(self, state_dict):
        vars(self).update(state_dict)
        self._configure(self.mode, self.threshold, self.threshold_mode)


# --------------------------------------------------------------------------- cyclical policies

def _uses_betas(optimizer):
    """Whether an optimizer's momentum is beta1 of its 'betas' (Adam family) rather than a
    'momentum' entry; neither is an error when momentum is to be cycled."""
    defaults = optimizer.defaults
    if "momentum" not in defaults and "betas" not in defaults:
        raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
    return "betas" in defaults


def _set_momentum(group, value, betas):
    if betas:
        group["betas"] = (value,) + tuple(group["betas"][1:])
    else:
        group["momentum"] = value


def _seed_momentum_range(optimizer, betas, highs, lows):
    for group, high, low in zip(optimizer.param_groups, highs, lows):
        _set_momentum(group, high, betas)
        group["max_momentum"] = high
        group["base_momentum"] = low


# scale_mode implied by each built-in CyclicLR policy
_CYCLE_POLICIES = {"triangular": "cycle", "triangular2": "cycle", "exp_range": "iterations"}


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith, 2017): each rate runs between `base_lr` and `max_lr` in
    cycles of `step_size_up` rising and `step_size_down` falling steps, the amplitude scaled
    by the policy ('triangular': constant, 'triangular2': halved every cycle, 'exp_range':
    ``gamma ** iteration``) or by a custom `scale_fn` of the cycle number or iteration
    (`scale_mode`).  With `cycle_momentum` the momentum (or beta1) moves the opposite way
    between `max_momentum` and `base_momentum`."""

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                 gamma=1.0, scale_fn=None, scale_mode="cycle", cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9, last_epoch=-1):
        _require_optimizer(optimizer)
        lows = _per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for group, low in zip(optimizer.param_groups, lows):
                _store(group, "lr", low)
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)

        rising = float(step_size_up)
        falling = rising if step_size_down is None else float(step_size_down)
        self.total_size = rising + falling
        self.step_ratio = rising / self.total_size

        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        self.mode, self.gamma = mode, gamma
        self._scale_fn_custom, self.scale_mode = scale_fn, scale_mode
        self._align_scale_mode()

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _uses_betas(optimizer)
            self.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                _seed_momentum_range(optimizer, self.use_beta1, self.max_momentums, self.base_momentums)

        super().__init__(optimizer, last_epoch)
        self.base_lrs = lows

    def _align_scale_mode(self):
        if self._scale_fn_custom is None:
            self.scale_mode = _CYCLE_POLICIES.get(self.mode, self.scale_mode)

    def scale_fn(self, x):
        """Amplitude multiplier for cycle number or iteration `x` (see scale_mode)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self):
        _warn_if_outside_step(self)
        it = self.last_epoch
        cycle = math.floor(1 + it / self.total_size)
        # position inside the cycle in [0, 1), and how far up the triangle that is
        where = 1.0 + it / self.total_size - cycle
        if where <= self.step_ratio:
            height = where / self.step_ratio
        else:
            height = (where - 1) / (self.step_ratio - 1)
        amplitude = self.scale_fn(cycle if self.scale_mode == "cycle" else it)

        rates = [low + (high - low) * height * amplitude for low, high in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            momenta = [high - (high - low) * height * amplitude
                       for low, high in zip(self.base_momentums, self.max_momentums)]
            for group, momentum in zip(self.optimizer.param_groups, momenta):
                _set_momentum(group, momentum, self.use_beta1)
        return rates

    def state_dict(self):
        # A custom scale function is saved like the lr_lambdas of LambdaLR: functions as None,
        # callable objects as a copy of their __dict__.
        saved = _state_without(self, "_scale_fn_custom")
        fn = self._scale_fn_custom
        keep = fn is not None and not isinstance(fn, types.FunctionType)
        saved["_scale_fn_custom"] = fn.__dict__.copy() if keep else None
        return saved

    def load_state_dict(self, state_dict):
        attributes = state_dict["_scale_fn_custom"]
        vars(self).update({k: v for k, v in state_dict.items() if k != "_scale_fn_custom"})
        if attributes is not None:
            self._scale_fn_custom.__dict__.update(attributes)
        self._align_scale_mode()


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter, 2017): cosine annealing from the initial rate to `eta_min`
    over a period of `T_0` epochs, restarting from the top each time; every period is `T_mult`
    times longer than the one before.  step() also takes fractional epochs."""

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(  # noqa: TRY004 (torch's exception type)
                f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}")
        self.T_0 = self.T_i = T_0
        self.T_mult, self.eta_min = T_mult, eta_min
        self.T_cur = last_epoch  # epochs since the last restart
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        _warn_if_outside_step(self)
        return [_cos_blend(base, self.eta_min, self.T_cur, self.T_i) for base in self.base_lrs]

    def _seek(self, epoch):
        """Place T_cur / T_i for an absolute (possibly fractional) epoch."""
        first, growth = self.T_0, self.T_mult
        if epoch < first:
            self.T_i, self.T_cur = first, epoch
        elif growth == 1:
            self.T_cur = epoch % first
        else:
            # period k starts at first * (growth ** k - 1) / (growth - 1): invert for k
            k = int(math.log((epoch / first * (growth - 1) + 1), growth))
            self.T_cur = epoch - first * (growth ** k - 1) / (growth - 1)
            self.T_i = first * growth ** k

    def step(self, epoch=None):
        """Advance one epoch, or move to `epoch` (any non-negative number)."""
        if epoch is None and self.last_epoch >= 0:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:  # restart, with a longer period
                self.T_cur %= self.T_i
                self.T_i *= self.T_mult
        else:
            if epoch is None:  # the constructor's step
                epoch = 0
            if epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            self._seek(epoch)
        self.last_epoch = math.floor(epoch)
        with _raised(self, "_get_lr_called_within_step"):
            rates = self.get_lr()
        self._apply(rates)


# --------------------------------------------------------------------------- 1cycle

def _one_cycle_length(total_steps, epochs, steps_per_epoch):
    if total_steps is not None:
        if total_steps <= 0 or not isinstance(total_steps, int):
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        return total_steps
    if epochs is None or steps_per_epoch is None:
        raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"Expected positive integer epochs, but got {epochs}")
    if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
        raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
    return epochs * steps_per_epoch


_PHASE_KEYS = ("end_step", "start_lr", "end_lr", "start_momentum", "end_momentum")


def _one_cycle_phases(total, pct_start, three_phase):
    """The legs of the policy, as the list of dicts torch keeps in the state dict: the last
    step of each leg, and which param-group entries the rate and momentum run between."""
    warm_end = float(pct_start * total) - 1
    if three_phase:
        legs = [(warm_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * total) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
    else:
        legs = [(warm_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
    return [dict(zip(_PHASE_KEYS, leg)) for leg in legs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2018): the rate warms up from ``max_lr / div_factor`` to
    `max_lr` over the first `pct_start` of `total_steps`, then anneals down to
    ``initial / final_div_factor`` ('cos' or 'linear'); with `three_phase` it first comes back
    down to the initial rate symmetrically and only then anneals.  With `cycle_momentum` the
    momentum (or beta1) moves the opposite way between `max_momentum` and `base_momentum`."""

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
                 final_div_factor=1e4, three_phase=False, last_epoch=-1):
        _require_optimizer(optimizer)
        self.total_steps = _one_cycle_length(total_steps, epochs, steps_per_epoch)
        self._schedule_phases = _one_cycle_phases(self.total_steps, pct_start, three_phase)
        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._anneal_func_type = anneal_strategy

        peaks = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, peak in zip(optimizer.param_groups, peaks):
                start = peak / div_factor
                group["initial_lr"] = start
                group["max_lr"] = peak
                group["min_lr"] = start / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _uses_betas(optimizer)
            highs = _per_group("max_momentum", optimizer, max_momentum)
            lows = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                _seed_momentum_range(optimizer, self.use_beta1, highs, lows)
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        if self._anneal_func_type == "linear":
            return start + (end - start) * pct
        raise ValueError(f"Unknown _anneal_func_type: {self._anneal_func_type}")

    def _phase_of(self, step):
        """The leg containing `step` (the last leg for anything beyond) and the fraction of it
        already covered."""
        legs = self._schedule_phases
        begin = 0.0
        for leg in legs[:-1]:
            if step <= leg["end_step"]:
                break
            begin = leg["end_step"]
        else:
            leg = legs[-1]
        return leg, (step - begin) / (leg["end_step"] - begin)

    def get_lr(self):
        _warn_if_outside_step(self)
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"Tried to step {step} times. The specified number of total steps is {self.total_steps}")
        leg, pct = self._phase_of(step)
        rates = []
        for group in self.optimizer.param_groups:
            rates.append(self._anneal(group[leg["start_lr"]], group[leg["end_lr"]], pct))
            if self.cycle_momentum:
                momentum = self._anneal(group[leg["start_momentum"]], group[leg["end_momentum"]], pct)
                _set_momentum(group, momentum, self.use_beta1)
        return rates
