"""torch.autograd.functional (jacobian, hessian, vjp, jvp, hvp, vhp) against torch on the same
float64 values: results, their tuple nesting and shapes, create_graph, strict mode and the errors."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ember  # noqa: E402

X = np.array([[0.3, -0.7, 1.1], [0.2, 0.5, -0.4]])
Y = np.array([0.9, -0.2, 0.4])
V = np.array([[1.0, 0.5, -1.0], [0.3, 0.2, 0.1]])


def same(a, b, path="result"):
    if isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b), (path, type(a), type(b))
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
        return
    assert not isinstance(a, tuple), path
    assert tuple(a.shape) == tuple(b.shape), (path, tuple(a.shape), tuple(b.shape))
    assert a.requires_grad == b.requires_grad, path
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=path)


CASES = {
    "jacobian": lambda L, F, x, y, v: F.jacobian(lambda a: a.sin() * a, x),
    "jacobian_tuple_inputs": lambda L, F, x, y, v: F.jacobian(lambda a, b: L.tanh(a @ b), (x, y)),
    "jacobian_tuple_outputs": lambda L, F, x, y, v: F.jacobian(lambda a: (a.exp(), a.sum(0)), x),
    "jacobian_unused_input": lambda L, F, x, y, v: F.jacobian(lambda a, b: a * 2, (x, y)),
    "jacobian_create_graph": lambda L, F, x, y, v: F.jacobian(lambda a: a.cos(), x, create_graph=True),
    "hessian": lambda L, F, x, y, v: F.hessian(lambda a: (a.sin() * a).sum(), x),
    "hessian_tuple": lambda L, F, x, y, v: F.hessian(lambda a, b: (L.tanh(a @ b) ** 2).sum(), (x, y)),
    "vjp": lambda L, F, x, y, v: F.vjp(lambda a: a.exp() * 2, x, v),
    "vjp_scalar": lambda L, F, x, y, v: F.vjp(lambda a, b: (L.tanh(a @ b) ** 2).sum(), (x, y)),
    "jvp": lambda L, F, x, y, v: F.jvp(lambda a: a.exp() * a, x, v),
    "jvp_tuple_outputs": lambda L, F, x, y, v: F.jvp(lambda a: (a.exp(), a.sum(0)), x, v),
    "hvp": lambda L, F, x, y, v: F.hvp(lambda a: (a.sin() * a).sum(), x, v),
    "vhp": lambda L, F, x, y, v: F.vhp(lambda a: (a.sin() * a).sum(), x, v),
    "hvp_tuple": lambda L, F, x, y, v: F.hvp(lambda a, b: (L.tanh(a @ b) ** 2).sum(), (x, y), (v, y)),
    "hvp_create_graph": lambda L, F, x, y, v: F.hvp(lambda a: (a ** 3).sum(), x, v, create_graph=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name):
    res = [CASES[name](L, L.autograd.functional, L.tensor(X), L.tensor(Y), L.tensor(V)) for L in (ember, torch)]
    same(*res)


def test_create_graph_results_are_differentiable_in_the_inputs():
    out = []
    for L in (ember, torch):
        x = L.tensor(X, requires_grad=True)
        h = L.autograd.functional.hessian(lambda a: (a ** 3 * a.sin()).sum(), x, create_graph=True)
        h.sum().backward()
        out.append(x.grad)
    same(*out)


ERRORS = {
    "v_needed": lambda L, F, x: F.vjp(lambda a: a * 2, x),
    "v_wrong_shape": lambda L, F, x: F.jvp(lambda a: a * 2, x, L.ones(3, dtype=L.float64)),
    "v_tuple_length": lambda L, F, x: F.vjp(lambda a: (a, a), x, (L.ones_like(x),)),
    "not_a_tensor": lambda L, F, x: F.jacobian(lambda a: a, [x]),
    "hessian_not_scalar": lambda L, F, x: F.hessian(lambda a: a * 2, x),
    "strict_independent": lambda L, F, x: F.jacobian(lambda a, b: a * 2, (x, x.clone()), strict=True),
    "strict_linear_hessian": lambda L, F, x: F.hessian(lambda a: a.sum(), x, strict=True),
    "bad_strategy": lambda L, F, x: F.jacobian(lambda a: a, x, strategy="sideways"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_as_torch(name):
    caught = []
    for L in (ember, torch):
        with pytest.raises(Exception) as e:
            ERRORS[name](L, L.autograd.functional, L.tensor(X))
        caught.append(e.value)
    assert type(caught[0]) is type(caught[1]), (caught[0], caught[1])
    assert str(caught[0]) == str(caught[1]).replace("torch.", "ember.") or str(caught[0]) == str(caught[1])
