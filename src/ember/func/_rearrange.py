"""torch.func.rearrange: einops' rearrange (https://einops.rocks/api/rearrange/) as one reshape, one
permute and one reshape. A pattern "left -> right" names the input's dims on the left and the
output's on the right: an identifier is an axis, "(a b)" a dim made of several axes (the first the
slowest), "1" or "()" a dim of size 1, "..." the dims not named, and a number a dim of that size. An
axis inside a group whose size the input does not give is sized by the keyword arguments. A list of
tensors is stacked along a new first dim first. Pattern errors are ValueErrors with torch's
messages; sizes that cannot be bound raise DimensionBindError, as torch's."""
import keyword
import math

from .. import _C

Tensor = _C.Tensor
_ELLIPSIS = "..."


class DimensionBindError(Exception):
    """A dim's size that cannot be bound to the pattern's axes (torch: functorch.dim.DimensionBindError)."""


def _parse_side(side):
    """The groups of one side: a list of lists of axes (identifiers, ints, or _ELLIPSIS); a bare
    axis is a group of one, "()" an empty group."""
    groups, cur = [], None
    for tok in side.replace("(", " ( ").replace(")", " ) ").split():
        if tok == "(":
            if cur is not None:
                raise ValueError("Unbalanced parentheses in the rearrange pattern")
            cur = []
        elif tok == ")":
            if cur is None:
                raise ValueError("Unbalanced parentheses in the rearrange pattern")
            groups.append(cur)
            cur = None
        else:
            if tok == _ELLIPSIS:
                ax = _ELLIPSIS
            elif tok.isdecimal():
                ax = int(tok)
            elif tok.isidentifier() and not keyword.iskeyword(tok):
                ax = tok
            else:
                raise ValueError(f"Invalid axis identifier: {tok}")
            if cur is None:
                groups.append([ax] if ax != 1 else [])
            elif ax != 1:
                cur.append(ax)
    if cur is not None:
        raise ValueError("Unbalanced parentheses in the rearrange pattern")
    return groups


def _names(groups):
    return [a for g in groups for a in g if isinstance(a, str) and a != _ELLIPSIS]


def rearrange(tensor, pattern, **axes_lengths):
    """torch.func.rearrange(tensor, pattern, **axes_lengths): see the module's note."""
    if not isinstance(tensor, Tensor):
        from .. import stack
        tensor = stack(list(tensor))
    if pattern.count("->") != 1:
        raise ValueError("Pattern must contain a single '->' separator")
    left, right = (_parse_side(s) for s in pattern.split("->"))
    for side in (left, right):
        names = _names(side)
        for a in names:
            if names.count(a) > 1:
                raise ValueError(f"Indexing expression contains duplicate dimension '{a}'")
        if sum(g.count(_ELLIPSIS) for g in side) > 1:
            raise ValueError("Indexing expression contains more than one '...'")
    lnames, rnames = _names(left), _names(right)
    one_side = set(lnames) ^ set(rnames)
    if one_side:
        raise ValueError(f"Identifiers only on one side of rearrange expression (should be on both): {one_side}")
    if any(_ELLIPSIS in g for g in left) != any(_ELLIPSIS in g for g in right):
        raise ValueError("Ellipsis found in only one side of the rearrange expression")
    unknown = set(axes_lengths) - set(lnames)
    if unknown:
        raise ValueError(f"Identifiers not found in rearrange expression: {unknown}")
    if any(_ELLIPSIS in g and len(g) > 1 for g in left):
        raise ValueError("Ellipsis inside parentheses in the left side is not allowed")

    shape = tuple(tensor.shape)
    has_ellipsis = any(_ELLIPSIS in g for g in left)
    fixed = len(left) - has_ellipsis
    if len(shape) < fixed if has_ellipsis else len(shape) != fixed:
        raise ValueError(f"Number of dimensions in pattern ({fixed}) must be equal to the number of dimensions in "
                         f"the tensor ({len(shape)})")
    # the left side's groups over the tensor's dims, the ellipsis standing for the ones not named
    sizes = dict(axes_lengths)
    elementary = []  # the left side's axes in order (the ellipsis' dims as ("...", k))
    dim = 0
    for g in left:
        if g == [_ELLIPSIS]:
            n = len(shape) - fixed
            for k in range(n):
                sizes[(_ELLIPSIS, k)] = shape[dim + k]
                elementary.append((_ELLIPSIS, k))
            dim += n
            continue
        total = shape[dim]
        known = [a for a in g if isinstance(a, int) or a in sizes]
        free = [a for a in g if not (isinstance(a, int) or a in sizes)]
        prod = math.prod(a if isinstance(a, int) else sizes[a] for a in known)
        if len(free) > 1:
            raise DimensionBindError(f"cannot infer the sizes of two dimensions at once {free[0]} and {free[1]}")
        if free:
            if prod == 0 or total % prod:
                raise DimensionBindError(f"inferred dimension does not evenly fit into larger dimension: {total} vs "
                                         f"{tuple(a if isinstance(a, int) else sizes[a] for a in known) + ('?',)}")
            sizes[free[0]] = total // prod
        elif prod != total:
            raise DimensionBindError(f"Dimension sizes to do not match ({total} != {prod}) when matching dimension "
                                     f"pack {tuple(g)}")
        for a in g:
            if isinstance(a, int):
                sizes[("int", dim, a)] = a
                elementary.append(("int", dim, a))
            else:
                elementary.append(a)
        dim += 1
    # the right side's axes in order, the ellipsis' dims where it stands
    n_ell = len(shape) - fixed
    order, out_shape = [], []
    for g in right:
        size = 1
        for a in g:
            if a == _ELLIPSIS:
                for k in range(n_ell):
                    order.append(elementary.index((_ELLIPSIS, k)))
                    size *= sizes[(_ELLIPSIS, k)]
            elif isinstance(a, int):
                raise ValueError(f"Non-unitary anonymous axes are not supported in the right side: {a}")
            else:
                order.append(elementary.index(a))
                size *= sizes[a]
        if g == [_ELLIPSIS]:  # a bare ellipsis keeps its dims apart
            out_shape += [sizes[(_ELLIPSIS, k)] for k in range(n_ell)]
        else:
            out_shape.append(size)
    dropped = [i for i, a in enumerate(elementary) if i not in order]  # left-side numbers (anonymous axes)
    if any(sizes[elementary[i]] != 1 for i in dropped):
        raise ValueError("Non-unitary anonymous axes are not supported in the left side")
    x = tensor.reshape(*[sizes[a] for a in elementary]) if elementary else tensor.reshape(())
    x = x.permute(*(order + dropped)) if elementary else x
    return x.reshape(*out_shape)
