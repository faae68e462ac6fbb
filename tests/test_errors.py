"""Bad input raises the exception type torch raises (RuntimeError / TypeError / ValueError /
IndexError), never a crash, and the message names the shapes / sizes / dtypes where torch's does.
Each row is also run against torch to check the row itself."""
import re

import numpy as np
import pytest

import ember


def S(*shape):
    """Any common spelling of a shape in an error message."""
    return ("[" + ", ".join(map(str, shape)) + "]", "(" + ", ".join(map(str, shape)) + ")",
            "x".join(map(str, shape)), " x ".join(map(str, shape)))


def N(n):
    """The number n as a whole word."""
    return re.compile(rf"(?<![\d.]){n}(?![\d.])")


def _has(msg, item):
    if isinstance(item, tuple):
        return any(_has(msg, i) for i in item)
    if isinstance(item, re.Pattern):
        return item.search(msg) is not None
    return item.lower() in msg.lower()


class E:
    def __init__(self, id, fn, exc, *mentions):
        self.id, self.fn, self.exc, self.mentions = id, fn, exc, mentions


def ones(L, *shape, **kw):
    return L.ones(*shape, **kw)


CASES = [
    # shapes
    E("broadcast_add", lambda L: ones(L, 2, 3) + ones(L, 4, 3), RuntimeError, N(2), N(4)),
    E("broadcast_mul_3d", lambda L: ones(L, 2, 3, 4) * ones(L, 3, 5), RuntimeError, N(4), N(5)),
    E("broadcast_where", lambda L: L.where(ones(L, 2) > 0, ones(L, 3), ones(L, 2)), RuntimeError, N(2), N(3)),
    E("maximum_shapes", lambda L: L.maximum(ones(L, 2), ones(L, 3)), RuntimeError, N(2), N(3)),
    E("matmul_2d", lambda L: ones(L, 2, 3) @ ones(L, 4, 3), RuntimeError, S(2, 3), S(4, 3)),
    E("mm_2d", lambda L: L.mm(ones(L, 2, 3), ones(L, 2, 3)), RuntimeError, S(2, 3)),
    E("matmul_1d", lambda L: ones(L, 3) @ ones(L, 4), RuntimeError, N(3), N(4)),
    E("matmul_batched", lambda L: ones(L, 2, 3, 4) @ ones(L, 3, 5, 6), RuntimeError),
    E("mm_not_matrix", lambda L: L.mm(ones(L, 2, 3), ones(L, 3)), RuntimeError),
    E("bmm_batch", lambda L: L.bmm(ones(L, 2, 3, 4), ones(L, 3, 4, 5)), RuntimeError, N(2), N(3)),
    E("bmm_inner", lambda L: L.bmm(ones(L, 2, 3, 4), ones(L, 2, 5, 5)), RuntimeError),
    E("bmm_not_3d", lambda L: L.bmm(ones(L, 2, 3), ones(L, 3, 2)), RuntimeError, "3"),
    E("view_size", lambda L: ones(L, 2, 3).view(4), RuntimeError, S(4), N(6)),
    E("reshape_size", lambda L: ones(L, 2, 3).reshape(4, 2), RuntimeError, S(4, 2), N(6)),
    E("view_two_infer", lambda L: ones(L, 2).view(-1, -1), RuntimeError),
    E("view_noncontig", lambda L: ones(L, 2, 3).t().view(6), RuntimeError),
    E("expand", lambda L: ones(L, 1, 3).expand(2, 4), RuntimeError, N(3), N(4)),
    E("cat_sizes", lambda L: L.cat([ones(L, 2, 3), ones(L, 2, 4)]), RuntimeError, N(3), N(4)),
    E("cat_dims", lambda L: L.cat([ones(L, 2, 3), ones(L, 3)]), RuntimeError),
    E("stack_sizes", lambda L: L.stack([ones(L, 2, 3), ones(L, 4, 3)]), RuntimeError, S(2, 3), S(4, 3)),
    E("cat_empty_list", lambda L: L.cat([]), ValueError),
    E("setitem_shape", lambda L: ones(L, 2, 3).__setitem__(0, ones(L, 4)), RuntimeError, N(3), N(4)),
    E("copy_shape", lambda L: ones(L, 3).copy_(ones(L, 4)), RuntimeError, N(3), N(4)),
    E("inplace_broadcast_out", lambda L: ones(L, 3).add_(ones(L, 2, 3)), RuntimeError, S(3), S(2, 3)),
    E("permute_len", lambda L: ones(L, 2, 3).permute(0), RuntimeError),
    E("permute_repeat", lambda L: ones(L, 2, 3).permute(0, 0), RuntimeError),
    E("gather_index_dims", lambda L: ones(L, 2, 2).gather(1, L.tensor([0, 1])), RuntimeError),
    E("bool_mask_shape", lambda L: ones(L, 3)[L.tensor([True, False])], IndexError, S(2), S(3)),
    E("bool_mask_shape_2d", lambda L: ones(L, 2, 2)[L.tensor([[True, False, True]])], IndexError),
    E("split_zero", lambda L: ones(L, 3).split(0), RuntimeError),
    E("chunk_zero", lambda L: ones(L, 3).chunk(0), RuntimeError),
    E("negative_size", lambda L: L.zeros(-1), RuntimeError),
    E("item_many", lambda L: ones(L, 2, 3).item(), RuntimeError, N(6)),
    E("bool_many", lambda L: bool(ones(L, 2)), RuntimeError),
    E("ragged_list", lambda L: L.tensor([[1, 2], [3]]), ValueError),
    # dims and indices
    E("index_oob", lambda L: ones(L, 3)[5], IndexError, N(5), N(3)),
    E("index_oob_neg", lambda L: ones(L, 3)[-4], IndexError, N(-4), N(3)),
    E("index_oob_dim1", lambda L: ones(L, 2, 3)[0, 5], IndexError, N(5), N(3)),
    E("too_many_indices", lambda L: ones(L, 2, 3)[0, 0, 0], IndexError),
    E("int_tensor_index_oob", lambda L: ones(L, 3)[L.tensor([0, 5])], IndexError, N(5), N(3)),
    E("setitem_oob", lambda L: ones(L, 3).__setitem__(3, 1.0), IndexError, N(3)),
    E("float_index", lambda L: ones(L, 3)[1.5], IndexError),
    E("index_select_oob", lambda L: ones(L, 3).index_select(0, L.tensor([3])), IndexError),
    E("gather_oob", lambda L: ones(L, 2, 2).gather(1, L.tensor([[0, 2]])), RuntimeError, N(2)),
    E("sum_dim", lambda L: ones(L, 2, 3).sum(dim=2), IndexError, N(2), "[-2, 1]"),
    E("sum_tuple_dim", lambda L: ones(L, 2, 3).sum(dim=(0, 3)), IndexError, N(3)),
    E("sum_repeated_dim", lambda L: ones(L, 4).sum(dim=(0, 0)), RuntimeError),
    E("mean_dim", lambda L: ones(L, 2, 3).mean(dim=5), IndexError, N(5)),
    E("max_dim", lambda L: ones(L, 3).max(dim=3), IndexError, N(3)),
    E("argmax_dim", lambda L: ones(L, 3).argmax(dim=1), IndexError, N(1)),
    E("var_dim", lambda L: ones(L, 3).var(dim=-2), IndexError, N(-2)),
    E("prod_dim", lambda L: ones(L, 3).prod(dim=1), IndexError, N(1)),
    E("softmax_dim", lambda L: ones(L, 2, 3).softmax(2), IndexError, N(2)),
    E("log_softmax_dim", lambda L: L.log_softmax(ones(L, 2, 3), -3), IndexError, N(-3)),
    E("transpose_dim", lambda L: ones(L, 2, 3).transpose(0, 2), IndexError, N(2)),
    E("squeeze_dim", lambda L: ones(L, 3).squeeze(3), IndexError, N(3)),
    E("unsqueeze_dim", lambda L: ones(L, 2, 3).unsqueeze(4), IndexError, N(4)),
    E("cat_dim", lambda L: L.cat([ones(L, 2), ones(L, 2)], dim=1), IndexError, N(1)),
    E("stack_dim", lambda L: L.stack([ones(L, 2), ones(L, 2)], dim=3), IndexError, N(3)),
    E("flatten_dim", lambda L: ones(L, 2, 3).flatten(3), IndexError, N(3)),
    E("split_dim", lambda L: ones(L, 4).split(2, dim=1), IndexError, N(1)),
    E("size_dim", lambda L: ones(L, 2, 3).size(2), IndexError, N(2)),
    E("index_select_dim", lambda L: ones(L, 3).index_select(1, L.tensor([0])), IndexError, N(1)),
    E("one_hot_oob", lambda L: L.nn.functional.one_hot(L.tensor([3]), 2), RuntimeError),
    E("one_hot_negative", lambda L: L.nn.functional.one_hot(L.tensor([-1]), 3), RuntimeError),
    # dtypes
    E("index_select_float_index", lambda L: ones(L, 3).index_select(0, L.tensor([1.0])), RuntimeError),
    E("gather_float_index", lambda L: ones(L, 2, 2).gather(1, L.tensor([[0.0]])), RuntimeError),
    E("one_hot_float", lambda L: L.nn.functional.one_hot(L.tensor([1.0])), RuntimeError),
    E("where_float_cond", lambda L: L.where(ones(L, 2), ones(L, 2), ones(L, 2)), RuntimeError, "bool"),
    E("int_requires_grad", lambda L: L.tensor([1, 2]).requires_grad_(), RuntimeError, "floating point"),
    E("int_requires_grad_kw", lambda L: L.tensor([1, 2], requires_grad=True), RuntimeError, "floating point"),
    E("inplace_int_float", lambda L: ones(L, 2, dtype=L.int64).add_(1.5), RuntimeError, ("Long", "int64")),
    E("inplace_int_float_tensor", lambda L: ones(L, 2, dtype=L.int64).mul_(ones(L, 2)), RuntimeError),
    E("int_mean", lambda L: ones(L, 2, 3, dtype=L.int64).mean(), RuntimeError, ("Long", "int64")),
    E("sub_bool", lambda L: L.tensor([True]) - L.tensor([False]), RuntimeError),
    E("neg_bool", lambda L: -L.tensor([True]), RuntimeError),
    E("matmul_dtype_mismatch", lambda L: ones(L, 2, 2) @ ones(L, 2, 2, dtype=L.float64), RuntimeError,
      ("float", "Float"), ("double", "Double", "float64")),
    E("str_operand", lambda L: ones(L, 2) + "a", TypeError),
    E("str_data", lambda L: L.tensor("a"), TypeError),
    E("zeros_float_size", lambda L: L.zeros(2.5), TypeError),
    E("method_extra_arg", lambda L: ones(L, 2).exp(1), TypeError),
    # autograd
    E("backward_twice", lambda L: _backward_twice(L), RuntimeError, ("second time", "retain_graph")),
    E("nonscalar_backward", lambda L: ones(L, 3, requires_grad=True).mul(2).backward(), RuntimeError, "scalar"),
    E("backward_no_grad", lambda L: ones(L, 3).sum().backward(), RuntimeError, "grad"),
    E("gradient_shape", lambda L: ones(L, 3, requires_grad=True).mul(2).backward(ones(L, 2)), RuntimeError,
      S(2), S(3)),
    E("leaf_inplace", lambda L: ones(L, 3, requires_grad=True).add_(1), RuntimeError, "leaf"),
    E("leaf_setitem", lambda L: ones(L, 3, requires_grad=True).__setitem__(0, 2.0), RuntimeError, "leaf"),
    E("nonleaf_requires_grad_false", lambda L: _nonleaf_rg(L), RuntimeError),
    E("numpy_requires_grad", lambda L: ones(L, 2, requires_grad=True).numpy(), RuntimeError, "requires grad"),
    E("grad_of_unrelated", lambda L: L.autograd.grad(ones(L, 2, requires_grad=True).sum(),
                                                     ones(L, 2, requires_grad=True)), RuntimeError),
]


def _backward_twice(L):
    x = ones(L, 3, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    y.backward()


def _nonleaf_rg(L):
    y = ones(L, 2, requires_grad=True) * 2
    y.requires_grad = False


def _check(case, L):
    with pytest.raises(Exception) as info:
        case.fn(L)
    err = info.value
    assert isinstance(err, case.exc), f"raised {type(err).__name__}: {err}; torch raises {case.exc.__name__}"
    msg = str(err)
    for m in case.mentions:
        assert _has(msg, m), f"message {msg!r} does not mention {m!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_error_ember(case):
    _check(case, ember)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_error_row_matches_torch(case):
    torch = pytest.importorskip("torch")
    _check(case, torch)


def test_errors_leave_grad_mode_and_tensors_usable():
    x = ember.ones(2, 3, requires_grad=True)
    for bad in (lambda: x + ember.ones(4), lambda: x.sum(dim=7), lambda: x[9]):
        with pytest.raises(Exception):
            bad()
    assert ember.is_grad_enabled()
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))


def test_error_in_no_grad_restores_mode():
    with pytest.raises(RuntimeError):
        with ember.no_grad():
            ember.ones(2) + ember.ones(3)
    assert ember.is_grad_enabled()
