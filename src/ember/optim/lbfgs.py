"""L-BFGS for ember, with torch.optim.LBFGS's interface, defaults, state layout and numbers.

The method (Nocedal & Wright, *Numerical Optimization*, 2nd ed.): a quasi-Newton descent whose
inverse-Hessian approximation H is never formed.  The last `history_size` curvature pairs
s = x_new - x_old, y = g_new - g_old define it implicitly, and the direction -H g comes from the
two-loop recursion (Algorithm 7.4) started from the scaled identity gamma I,
gamma = s.y / y.y (eq. 7.20).  Each iteration then moves either a fixed step `lr` along the
direction, or (``line_search_fn="strong_wolfe"``) a step satisfying the strong Wolfe conditions,
found by bracketing (Algorithm 3.5) and zooming (Algorithm 3.6) with safeguarded cubic
interpolation (eq. 3.59).

Numerics follow torch's choices so that results agree to rounding: quantities torch keeps as
0-d tensors (the step t, s.y, rho, gamma, directional derivatives) are 0-d ember tensors here
too, so float32 problems round as torch's do, and losses are Python floats."""
import functools
import math
from collections import namedtuple

from .. import _C
from ..autograd.grad_mode import enable_grad, no_grad
from .optimizer import Optimizer, _check_lr, _value

Tensor = _C.Tensor

__all__ = ["LBFGS"]


def _inner(a, b):
    """Inner product of two flat vectors, as a 0-d tensor."""
    return a.dot(b) if hasattr(a, "dot") else _C.matmul(a, b)


def _number(x):
    """A Python number for the `alpha` of add_() (which torch takes from a 0-d tensor by item())."""
    return x.item() if isinstance(x, Tensor) else x


# --------------------------------------------------------------------------- line search

# One evaluation along the search direction: step length, loss, flat gradient, and the
# directional derivative phi'(t) = g . d.
_Trial = namedtuple("_Trial", "t f g slope")


def _cubic_step(a, b, bounds=None):
    """Minimiser of the cubic matching phi and phi' at trials `a` and `b` (N&W eq. 3.59),
    clipped to `bounds` (by default the interval between the two steps).  When the cubic has
    no real local minimiser the middle of the bounds is returned."""
    if bounds is None:
        bounds = (a.t, b.t) if a.t <= b.t else (b.t, a.t)
    low_bound, high_bound = bounds
    d1 = a.slope + b.slope - 3 * (a.f - b.f) / (a.t - b.t)
    radicand = d1 ** 2 - a.slope * b.slope
    if not radicand >= 0:
        return (low_bound + high_bound) / 2.0
    d2 = radicand.sqrt() if isinstance(radicand, Tensor) else math.sqrt(radicand)
    # eq. 3.59 with alpha_i the larger step and alpha_{i-1} the smaller one
    near, far = (a, b) if a.t <= b.t else (b, a)
    guess = far.t - (far.t - near.t) * ((far.slope + d2 - d1) / (far.slope - near.slope + 2 * d2))
    return min(max(guess, low_bound), high_bound)


def _lower_first(pair):
    """Positions (low, high) of a bracket's trials, the lower loss first (ties: position 0)."""
    return (0, 1) if pair[0].f <= pair[-1].f else (1, 0)


def _strong_wolfe(evaluate, d, t, origin, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Step length along `d` satisfying the strong Wolfe conditions

        phi(t) <= phi(0) + c1 t phi'(0)   (sufficient decrease)
        |phi'(t)| <= -c2 phi'(0)          (curvature)

    for phi(t) = loss(x + t d), starting from the trial step `t`.  `origin` is the trial at
    t = 0 and ``evaluate(t)`` returns (loss, flat gradient) at x + t d.  At most `max_ls`
    evaluations beyond the first.  Returns the chosen trial and the number of evaluations."""

    def trial(step):
        loss, grad = evaluate(step)
        return _Trial(step, loss, grad, _inner(grad, d))

    def too_high(tr):
        return tr.f > origin.f + c1 * tr.t * origin.slope

    def flat_enough(tr):
        return abs(tr.slope) <= -c2 * origin.slope

    d_scale = d.abs().max()  # turns a step-length difference into a parameter change

    # Algorithm 3.5: enlarge the step until [previous, current] brackets acceptable steps
    previous, current = origin, trial(t)
    extra = 0  # evaluations after the first
    found = False
    while extra < max_ls:
        if too_high(current) or (extra > 1 and current.f >= previous.f):
            bracket = [previous, current]
            break
        if flat_enough(current):
            bracket, found = [current], True
            break
        if current.slope >= 0:
            bracket = [previous, current]
            break
        # still descending: extrapolate, past t by at least 1% of the last increase and to at most 10 t
        reach = (current.t + 0.01 * (current.t - previous.t), current.t * 10)
        previous, current = current, trial(_cubic_step(previous, current, reach))
        extra += 1
    else:
        # out of evaluations while extrapolating: settle for the better of 0 and the last step
        bracket = [origin, current]

    # Algorithm 3.6: shrink the bracket around acceptable steps
    low, high = _lower_first(bracket)
    stuck = False  # the previous zoom step landed next to an end of the bracket
    while not found and extra < max_ls:
        if abs(bracket[1].t - bracket[0].t) * d_scale < tolerance_change:
            break
        left = min(bracket[0].t, bracket[1].t)
        right = max(bracket[0].t, bracket[1].t)
        step = _cubic_step(bracket[0], bracket[1])
        margin = 0.1 * (right - left)
        if min(right - step, step - left) < margin:
            # Near an end (or outside): tolerated once in a row; otherwise pulled inside by
            # a tenth of the bracket, from whichever end it is closer to.
            if stuck or step >= right or step <= left:
                step = right - margin if abs(step - right) < abs(step - left) else left + margin
                stuck = False
            else:
                stuck = True
        else:
            stuck = False
        current = trial(step)
        extra += 1

        if too_high(current) or current.f >= bracket[low].f:
            bracket[high] = current
            low, high = _lower_first(bracket)
            continue
        if flat_enough(current):
            found = True
        elif current.slope * (bracket[high].t - bracket[low].t) >= 0:
            bracket[high] = bracket[low]  # keep the minimiser between the two ends
        bracket[low] = current

    return bracket[low], extra + 1


# --------------------------------------------------------------------------- the optimizer

class LBFGS(Optimizer):
    """L-BFGS (torch.optim.LBFGS).

    ``step(closure)`` runs up to `max_iter` iterations and `max_eval` evaluations of `closure`
    (default ``max_iter * 5 // 4``), which must clear the gradients, compute the loss, call
    backward() and return the loss; step() returns the first loss it saw.  It stops early when
    the gradient's largest entry falls to `tolerance_grad`, or when the step or the change of
    loss falls below `tolerance_change`.  ``line_search_fn`` is None (fixed step `lr`) or
    ``'strong_wolfe'``.  Only one parameter group is supported.

    The state, stored under the first parameter as torch stores it, has torch's keys:
    'func_evals', 'n_iter', 'al' (scratch of the two-loop recursion, once used), 'd', 't',
    'old_dirs', 'old_stps', 'ro', 'H_diag', 'prev_flat_grad' and 'prev_loss'."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        _check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4  # torch's default budget
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval, "tolerance_grad": tolerance_grad,
                    "tolerance_change": tolerance_change, "history_size": history_size, "line_search_fn": line_search_fn}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        self._numel_cache = None

    def __getstate__(self):
        # the base class pickles defaults, state and param groups only
        return dict(super().__getstate__(), _params=self._params, _numel_cache=self._numel_cache)

    # ---- the parameters as one flat vector

    def _numel(self):
        if self._numel_cache is None:
            self._numel_cache = sum(p.numel() for p in self._params)
        return self._numel_cache

    def _flat_grad(self):
        parts = [_C._zeros([p.numel()], p.dtype) if p.grad is None else p.grad.reshape(-1) for p in self._params]
        return _C.cat(parts, 0)

    def _move(self, t, direction):
        """x += t * direction, `direction` laid out as the concatenated parameters."""
        alpha = _number(t)
        offset = 0
        for p in self._params:
            size = p.numel()
            p.add_(direction[offset:offset + size].view_as(p), alpha=alpha)
            offset += size
        if offset != self._numel():
            raise AssertionError(f"Expected offset {offset} to equal {self._numel()}")

    def _evaluate_at(self, closure, start, t, direction):
        """Loss and flat gradient at start + t * direction; the parameters go back to `start`."""
        self._move(t, direction)
        loss = float(closure())
        grad = self._flat_grad()
        for p, saved in zip(self._params, start):
            p.copy_(saved)
        return loss, grad

    # ---- the iteration

    def step(self, closure):
        """One L-BFGS run of up to max_iter iterations; `closure` is required (see the class)."""
        with no_grad():
            return self._minimise(enable_grad()(closure))

    def _minimise(self, closure):
        if len(self.param_groups) != 1:
            raise AssertionError(f"Expected exactly one param_group, but got {len(self.param_groups)}")
        group = self.param_groups[0]
        lr = _value(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        line_search, memory = group["line_search_fn"], group["history_size"]

        # LBFGS's state is global; like torch, file it under the first parameter
        state = self.state[self._params[0]]
        for counter in ("func_evals", "n_iter"):
            state.setdefault(counter, 0)

        first_loss = closure()
        loss = float(first_loss)
        state["func_evals"] += 1
        evals = 1
        grad = self._flat_grad()
        if grad.abs().max() <= tol_grad:  # already stationary
            return first_loss

        # carried over from the previous call (all None on the first)
        d, t = state.get("d"), state.get("t")
        ys_hist, ss_hist, rho = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        gamma = state.get("H_diag")
        prev_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        for iteration in range(1, max_iter + 1):
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                # no curvature known yet: steepest descent
                d = grad.neg()
                ys_hist, ss_hist, rho = [], [], []
                gamma = 1
            else:
                y, s = grad.sub(prev_grad), d.mul(t)
                curvature = _inner(y, s)
                if curvature > 1e-10:  # skip pairs that would break positive definiteness
                    if len(ys_hist) == memory:
                        del ys_hist[0], ss_hist[0], rho[0]
                    ys_hist.append(y)
                    ss_hist.append(s)
                    rho.append(1.0 / curvature)
                    gamma = curvature / _inner(y, y)
                scratch = state.setdefault("al", [None] * memory)
                d = _two_loop(grad, ys_hist, ss_hist, rho, gamma, scratch)

            prev_grad = grad.clone() if prev_grad is None else prev_grad.copy_(grad)
            prev_loss = loss

            if state["n_iter"] == 1:
                # first step ever, no scale known: keep the step t * d within lr in L1 norm
                t = min(1.0, 1.0 / grad.abs().sum()) * lr
            else:
                t = lr

            descent = _inner(grad, d)
            if descent > -tol_change:  # not (numerically) a descent direction
                break

            converged = False
            spent = 0
            if line_search is not None:
                if line_search != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                along = functools.partial(self._evaluate_at, closure, [p.clone() for p in self._params], direction=d)
                chosen, spent = _strong_wolfe(along, d, t, _Trial(0, loss, grad, descent), max_ls=max_eval - evals)
                t, loss, grad = chosen.t, chosen.f, chosen.g
                self._move(t, d)
                converged = grad.abs().max() <= tol_grad
            else:
                self._move(t, d)
                if iteration != max_iter:
                    # re-evaluate, except after the last iteration (its result would go unused)
                    loss = float(closure())
                    grad = self._flat_grad()
                    converged = grad.abs().max() <= tol_grad
                    spent = 1
            evals += spent
            state["func_evals"] += spent

            if iteration == max_iter or evals >= max_eval or converged:
                break
            if d.mul(t).abs().max() <= tol_change:  # the parameters barely moved
                break
            if abs(loss - prev_loss) < tol_change:  # nor did the loss
                break

        state.update(d=d, t=t, old_dirs=ys_hist, old_stps=ss_hist, ro=rho, H_diag=gamma,
                     prev_flat_grad=prev_grad, prev_loss=prev_loss)
        return first_loss


def _two_loop(grad, ys, ss, rho, gamma, alphas):
    """-H grad by the two-loop recursion (N&W Algorithm 7.4) over the stored pairs, oldest
    first, with H0 = gamma I.  `alphas` receives the first loop's coefficients."""
    q = grad.neg()
    for i in reversed(range(len(ys))):
        alphas[i] = _inner(ss[i], q) * rho[i]
        q.add_(ys[i], alpha=-_number(alphas[i]))
    r = q * gamma
    for i in range(len(ys)):
        beta = _inner(ys[i], r) * rho[i]
        r.add_(ss[i], alpha=_number(alphas[i] - beta))
    return r
