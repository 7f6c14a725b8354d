"""The autograd engine: accumulation, retain_graph, autograd.grad, grad modes, leaves, custom
Functions, gradcheck, higher derivatives, deep graphs, error messages and memory."""

import gc
import weakref

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.autograd import Function, GradcheckError, gradcheck, gradgradcheck


def f64(values, requires_grad=True):
    return cr.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


# ----- accumulation and paths ---------------------------------------------------------------
def test_grad_accumulates_across_backward_calls():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    assert x.grad.tolist() == [2.0 + 3.0, 4.0 + 3.0]
    x.grad = None
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    x.grad.zero_()
    x.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_tensor_used_twice_gets_the_sum_of_both_paths():
    x = cr.tensor(3.0, requires_grad=True)
    y = x * 2
    z = y * y + y.exp() + x  # y feeds two ops, x feeds two ops
    z.backward()
    np.testing.assert_allclose(x.grad.item(), 2 * (2 * 6.0) + 2 * np.exp(6.0) + 1, rtol=1e-6)


def test_diamond_and_broadcast_paths_match_torch():
    a = np.random.default_rng(0).standard_normal((3, 1))
    x, tx = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    for v in (x, tx):
        h = v * v.T  # (3, 3): x reaches h through two broadcast paths
        ((h + v).sin() * v).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_gradient_seeded_with_a_non_scalar_output():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(cr.tensor([1.0, 0.0, -1.0]))
    assert x.grad.tolist() == [2.0, 0.0, -6.0]


def test_grad_of_a_leaf_does_not_alias_the_seed():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    seed = cr.tensor([1.0, 1.0])
    x.backward(seed)
    x.grad += 5  # changing .grad must not change the seed, and the other way round
    assert seed.tolist() == [1.0, 1.0]
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    s2 = cr.tensor([[1.0, 1.0]])
    w.reshape(1, 2).backward(s2)
    w.grad += 1
    assert s2.tolist() == [[1.0, 1.0]]


# ----- freeing the graph, retain_graph ------------------------------------------------------
def test_second_backward_without_retain_graph_says_to_retain():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        y.backward()


def test_second_backward_through_a_shared_subgraph_says_to_retain():
    x = cr.tensor(2.0, requires_grad=True)
    h = x.exp()
    (h * 2).backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        (h * 3).backward()


def test_retain_graph_allows_a_second_backward():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]


def test_graph_is_freed_after_backward():
    x = cr.tensor(np.ones(1000), requires_grad=True)
    y = x.exp()
    z = (y * 2).sum()
    ref = weakref.ref(y._data)  # the graph holds arrays (what rules read), never tensors
    del y
    assert ref() is not None  # z's graph holds it: exp's rule reads its output
    z.backward()
    gc.collect()
    assert ref() is None
    assert z.grad_fn.released


def test_graph_is_kept_with_retain_graph_and_freed_when_dropped():
    x = cr.tensor(np.ones(10), requires_grad=True)
    y = x.exp()
    z = (y * 2).sum()
    ref = weakref.ref(y._data)
    del y
    z.backward(retain_graph=True)
    assert ref() is not None
    del z
    gc.collect()
    assert ref() is None


def test_autograd_grad_also_frees_the_graph():
    x = cr.tensor(2.0, requires_grad=True)
    y = x * x
    cr.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        cr.autograd.grad(y, x)


# ----- autograd.grad ------------------------------------------------------------------------
def test_autograd_grad_returns_gradients_and_leaves_grad_untouched():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([3.0, -1.0], requires_grad=True)
    gx, gw = cr.autograd.grad((x * w).sum(), [x, w])
    assert gx.tolist() == [3.0, -1.0] and gw.tolist() == [1.0, 2.0]
    assert x.grad is None and w.grad is None
    (gx_only,) = cr.autograd.grad((x * w).sum(), x)
    assert gx_only.tolist() == [3.0, -1.0]


def test_autograd_grad_with_grad_outputs():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (g,) = cr.autograd.grad(x * x, x, grad_outputs=cr.tensor([1.0, 10.0, 100.0]))
    assert g.tolist() == [2.0, 40.0, 600.0]
    a, b = cr.tensor(1.0, requires_grad=True), cr.tensor(2.0, requires_grad=True)
    ga, gb = cr.autograd.grad([a * b, a + b], [a, b], grad_outputs=[cr.tensor(1.0), cr.tensor(2.0)])
    assert (ga.item(), gb.item()) == (2.0 + 2.0, 1.0 + 2.0)


def test_autograd_grad_allow_unused():
    x = cr.tensor(1.0, requires_grad=True)
    unused = cr.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        cr.autograd.grad(x * 2, [x, unused], retain_graph=True)
    gx, gu = cr.autograd.grad(x * 2, [x, unused], allow_unused=True)
    assert gx.item() == 2.0 and gu is None


def test_autograd_grad_with_respect_to_an_intermediate():
    x = cr.tensor(1.0, requires_grad=True)
    y = x * 3
    z = y * y + y
    gy, gx = cr.autograd.grad(z, [y, x])
    assert (gy.item(), gx.item()) == (7.0, 21.0)


def test_autograd_grad_create_graph_gives_differentiable_gradients():
    x = cr.tensor(2.0, requires_grad=True)
    (dx,) = cr.autograd.grad(x**3, x, create_graph=True)
    assert dx.requires_grad and dx.item() == 12.0
    (d2x,) = cr.autograd.grad(dx, x, create_graph=True)
    assert d2x.item() == 12.0
    (d3x,) = cr.autograd.grad(d2x, x)
    assert d3x.item() == 6.0 and x.grad is None


def test_autograd_grad_rejects_inputs_that_do_not_require_grad():
    x = cr.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.autograd.grad(x * 2, cr.tensor(1.0))


def test_backward_with_inputs_accumulates_only_there():
    x, w = cr.tensor(1.0, requires_grad=True), cr.tensor(2.0, requires_grad=True)
    (x * w).backward(inputs=[w])
    assert x.grad is None and w.grad.item() == 1.0


# ----- error messages -----------------------------------------------------------------------
def test_backward_on_non_scalar_without_gradient_is_a_clear_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*\(2,\).*gradient="):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="gradient has shape"):
        (x * 2).backward(cr.ones(3))


def test_backward_on_a_tensor_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.ones(2).sum().backward()


def test_integer_tensors_cannot_require_grad():
    for make in (lambda: cr.tensor([1, 2], requires_grad=True),
                 lambda: cr.tensor([1, 2]).requires_grad_(),
                 lambda: cr.zeros(2, dtype=cr.int64, requires_grad=True),
                 lambda: cr.tensor([True], requires_grad=True)):  # fmt: skip
        with pytest.raises(RuntimeError, match="floating point"):
            make()


def test_shape_errors_name_the_op_and_both_shapes():
    cases = [
        (lambda: cr.ones(2, 3) + cr.ones(4), r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
        (lambda: cr.ones(2, 3) * np.ones(4), r"mul: shapes \(2, 3\) and \(4,\)"),
        (lambda: np.ones(4) - cr.ones(2, 3), r"sub: shapes \(4,\) and \(2, 3\)"),
        (lambda: cr.ones(2, 3) / cr.ones(3, 2), r"div: shapes \(2, 3\) and \(3, 2\)"),
        (lambda: cr.ones(2, 3) ** cr.ones(2), r"pow: shapes \(2, 3\) and \(2,\)"),
        (lambda: cr.maximum(cr.ones(2), cr.ones(3)), r"maximum: shapes \(2,\) and \(3,\)"),
        (lambda: cr.where(cr.ones(2) > 0, cr.ones(3), 0.0), r"where: shapes"),
        (lambda: cr.ones(2, 3) > cr.ones(4), r"gt: shapes \(2, 3\) and \(4,\)"),
        (lambda: cr.ones(2, 3) @ cr.ones(2, 3), r"matmul: shapes \(2, 3\) and \(2, 3\) cannot be multiplied"),
        (lambda: cr.ones(3) @ cr.ones(2), r"matmul: shapes \(3,\) and \(2,\)"),
        (lambda: cr.ones(2, 2, 3) @ cr.ones(3, 3, 4), r"matmul: shapes \(2, 2, 3\) and \(3, 3, 4\)"),
        (lambda: cr.matmul(cr.tensor(1.0), cr.ones(2)), r"matmul: both arguments need at least 1"),
        (lambda: cr.ones(2, 3).reshape(4), r"reshape: shape \(4,\) is invalid for input of shape \(2, 3\)"),
        (lambda: cr.ones(2, 3).view(-1, 4), r"shape \(-1, 4\) is invalid for input of shape \(2, 3\)"),
        (lambda: cr.ones(2, 3).reshape(-1, -1), r"invalid for input of shape \(2, 3\)"),
        (lambda: cr.ones(2, 3).expand(4, 3), r"expand: shape \(2, 3\) cannot be broadcast to \(4, 3\)"),
        (lambda: cr.cat([cr.ones(2, 3), cr.ones(3, 2)]), r"cat: sizes of tensors must match"),
        (lambda: cr.stack([cr.ones(2), cr.ones(3)]), r"stack: .*\(2,\).*\(3,\)"),
        (lambda: cr.ones(2, 3).permute(0, 0), r"permute: dims"),
        (lambda: cr.ones(4).split([1, 2]), r"split: sizes \[1, 2\]"),
        (lambda: cr.pad(cr.ones(4), (1,)), r"pad: padding"),
        (lambda: cr.pad(cr.ones(1, 3), (3, 0), mode="reflect"), r"pad: reflect padding"),
        (lambda: cr.ones(2, 3).gather(1, cr.tensor([0])), r"gather: index has 1 dimensions"),
    ]  # fmt: skip
    for fn, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            fn()
    with pytest.raises(TypeError, match=r"index_select: index must be a 1-D"):
        cr.ones(2, 3).index_select(0, cr.tensor([[0]]))


def test_dim_and_index_errors_name_the_op():
    cases = [
        (lambda: cr.ones(2, 3).sum(dim=2), r"sum: Dimension out of range.*got 2"),
        (lambda: cr.ones(2, 3).mean(dim=-3), r"mean: Dimension out of range"),
        (lambda: cr.ones(2, 3).amax(dim=(0, 5)), r"amax: Dimension out of range"),
        (lambda: cr.ones(2, 3).max(dim=2), r"max: Dimension out of range"),
        (lambda: cr.ones(2, 3).argmax(dim=2), r"argmax: Dimension out of range"),
        (lambda: cr.ones(2, 3).transpose(0, 2), r"transpose: Dimension out of range"),
        (lambda: cr.ones(2, 3).unsqueeze(3), r"unsqueeze: Dimension out of range"),
        (lambda: cr.ones(2, 3).flatten(0, 5), r"flatten: Dimension"),
        (lambda: cr.cat([cr.ones(2), cr.ones(2)], dim=1), r"cat: Dimension out of range"),
        (lambda: cr.ones(2, 3)[5], r"index: .*out of bounds.*\(2, 3\)"),
        (lambda: cr.ones(2, 3).gather(1, cr.tensor([[5]])), r"gather: index out of range"),
        (lambda: cr.ones(2, 3)[0, 0, 0], r"index: too many indices.*\(2, 3\)"),
        (lambda: cr.ones(2, 3)[cr.tensor([True, False, True])], r"index: boolean index.*\(2, 3\)"),
    ]  # fmt: skip
    for fn, pattern in cases:
        with pytest.raises(IndexError, match=pattern):
            fn()


# ----- deep graphs --------------------------------------------------------------------------
def test_chain_of_100000_ops_backpropagates_without_recursion_error():
    x = cr.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(50_000):
        y = y * 1.0001
        y = y - 0.0
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001**50_000, rtol=1e-3)


def test_deep_chain_graph_is_freed_without_recursion_error():
    x = cr.tensor(1.0, requires_grad=True)
    first = x + 1.0
    y = first
    for _ in range(100_000):
        y = y + 1.0
    ref = weakref.ref(first)
    del first, y  # dropping a 10^5-deep graph must not overflow the C stack either
    gc.collect()
    assert ref() is None


# ----- grad modes and leaves ----------------------------------------------------------------
def test_no_graph_under_no_grad_and_enable_grad_inside():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        y = x * 2
        assert not cr.is_grad_enabled()
        with cr.enable_grad():
            z = x * 2
            assert cr.is_grad_enabled()
        w = x.exp()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert not w.requires_grad
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_as_decorator_and_set_grad_enabled():
    x = cr.tensor(1.0, requires_grad=True)

    @cr.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    with cr.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_grad_mode_restored_after_an_exception():
    with pytest.raises(ValueError):
        with cr.no_grad():
            raise ValueError
    assert cr.is_grad_enabled()
    x = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError):
        cr.autograd.grad((x @ cr.ones(2, 2)).sum(), x)
    assert cr.is_grad_enabled()


def test_leaves_grad_fn_detach_requires_grad_():
    x = cr.tensor([1.0, 2.0])
    assert x.is_leaf and x.grad_fn is None and not x.requires_grad
    assert x.requires_grad_() is x and x.requires_grad and x.is_leaf
    y = x * 2
    assert not y.is_leaf and y.grad_fn.name() == "MulBackward" and y.requires_grad
    d = y.detach()
    assert d.is_leaf and d.grad_fn is None and not d.requires_grad
    d += 1  # shares memory with y
    assert y.tolist() == [3.0, 5.0]
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    assert not (d * x).detach().requires_grad
    z = (x * 3).detach().requires_grad_()
    (z * z).sum().backward()
    assert z.grad.tolist() == [6.0, 12.0] and x.grad is None


def test_constant_inputs_get_no_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None and x.grad.tolist() == [3.0, 4.0]


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    z = y * 2  # no retain_grad: no .grad after backward
    (y * z).sum().backward()
    assert y.retains_grad and y.grad.tolist() == [12.0, 24.0]
    assert z.grad is None
    assert x.grad.tolist() == [36.0, 72.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.ones(2).retain_grad()


# ----- custom Function ----------------------------------------------------------------------
class SigmoidGate(Function):
    """Seed 003's sigmoid gate as one node with local derivative sigma (1 - sigma)."""

    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + (-x).exp())
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad_output):
        (s,) = ctx.saved_tensors
        return grad_output * s * (1 - s)


def test_seed003_sigmoid_gate_as_one_node():
    w = cr.tensor([2.0, -3.0, -3.0], requires_grad=True)
    x = cr.tensor([-1.0, -2.0], requires_grad=True)
    f = SigmoidGate.apply(w[0] * x[0] + w[1] * x[1] + w[2])
    assert f.grad_fn.name() == "SigmoidGateBackward"
    f.backward()
    assert round(f.item(), 2) == 0.73
    assert [round(v, 2) for v in x.grad.tolist()] == [0.39, -0.59]
    assert [round(v, 2) for v in w.grad.tolist()] == [-0.2, -0.39, 0.2]


class Cube(Function):
    """x^3 with its derivative written from the saved input (differentiable again)."""

    @staticmethod
    def forward(ctx, x, scale=1.0):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * x * x * scale

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x * ctx.scale, None


def test_function_with_non_tensor_args_and_ctx_attributes():
    x = f64([1.0, -2.0])
    y = Cube.apply(x, 2.0)
    assert y.tolist() == [2.0, -16.0]
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 24.0]


def test_function_needs_input_grad_and_no_node_without_grad():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b):
            seen["needs"] = ctx.needs_input_grad
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g, g

    out = Probe.apply(cr.tensor(1.0, requires_grad=True), cr.tensor(2.0))
    assert seen["needs"] == (True, False) and out.requires_grad
    out = Probe.apply(cr.tensor(1.0), cr.tensor(2.0))
    assert not out.requires_grad and out.grad_fn is None
    with cr.no_grad():
        assert Probe.apply(cr.tensor(1.0, requires_grad=True), cr.tensor(2.0)).grad_fn is None


def test_function_with_create_graph_gives_second_derivatives():
    x = f64([0.5, -1.5])
    (g,) = cr.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 3 * np.array([0.5, -1.5]) ** 2)
    (h,) = cr.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * np.array([0.5, -1.5]))


def test_function_saving_its_output_has_correct_second_derivatives():
    # backward uses s = sigmoid(x), the output: with create_graph, s must be the graph's output
    a = np.array([0.3, -1.2, 2.0])
    x, tx = f64(a), torch.tensor(a, requires_grad=True)
    (g,) = cr.autograd.grad(SigmoidGate.apply(x).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(torch.sigmoid(tx).sum(), tx, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-12)
    (h,) = cr.autograd.grad(g.sum(), x)
    (th,) = torch.autograd.grad(tg.sum(), tx)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-10)
    assert gradgradcheck(SigmoidGate.apply, (f64(a),))


def test_function_backward_with_wrong_gradient_shape_is_an_error():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return g  # should be expanded to x's shape

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Bad.backward returned a gradient of shape \(\)"):
        Bad.apply(x).backward()


# ----- gradcheck ----------------------------------------------------------------------------
class WrongSquare(Function):
    """x^2 with a deliberately wrong derivative at the second element."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        bad = cr.tensor(np.array([0.0, 1.0, 0.0]))
        return g * (2 * x + bad)


def test_gradcheck_passes_on_good_functions():
    a, b = f64([[0.3, -1.0], [2.0, 0.5]]), f64([1.5, -0.7])
    assert gradcheck(lambda x, y: (x @ y).tanh() * y.sum(), (a, b))
    assert gradcheck(lambda x: x.logsumexp(dim=0), (a,))
    assert gradcheck(lambda x: (x.max(dim=1).values, x.var()), (a,))  # several outputs
    assert gradgradcheck(lambda x, y: (x @ y).sin() * y, (a, b))
    assert gradgradcheck(lambda x: x.std(dim=0), (a,))


def test_gradcheck_names_input_and_element_of_a_wrong_function():
    y = f64([1.0, 2.0])
    x = f64([0.5, -1.0, 2.0])
    with pytest.raises(GradcheckError, match=r"input 1.*input element \(1,\)"):
        gradcheck(lambda a, b: WrongSquare.apply(b).sum() * a.sum(), (y, x))
    assert not gradcheck(lambda b: WrongSquare.apply(b), (x,), raise_exception=False)


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class WrongCubeSecond(Function):  # first derivative right, not differentiable correctly
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x.detach() * x  # loses half of the second derivative

    x = f64([0.5, -1.0])
    assert gradcheck(WrongCubeSecond.apply, (x,))
    with pytest.raises(GradcheckError, match="input 0"):
        gradgradcheck(WrongCubeSecond.apply, (x,))


def test_gradcheck_requires_float64():
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda x: x * 2, (cr.tensor([1.0], requires_grad=True),))


# ----- higher order -------------------------------------------------------------------------
def test_newtons_method_with_second_derivatives_converges():
    # DeZero's example: f(x) = x^4 - 2x^2, from x = 2 to the minimum at x = 1
    x = cr.tensor(2.0, dtype=cr.float64, requires_grad=True)
    for _ in range(10):
        y = x**4 - 2 * x**2
        y.backward(create_graph=True)
        gx = x.grad
        x.grad = None
        gx.backward()
        gx2 = x.grad
        x.data -= gx.data / gx2.data
        x.grad = None
    assert abs(x.item() - 1.0) < 1e-12


def test_hessian_vector_product_matches_torch():
    rng = np.random.default_rng(0)
    a, v, A = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal((4, 4))

    def f(x, A):
        return (x @ A @ x).tanh() + (x.exp() * x).sum() + (x * x).sum().sqrt()

    x = f64(a)
    (g,) = cr.autograd.grad(f(x, cr.tensor(A)), x, create_graph=True)
    (hv,) = cr.autograd.grad((g * cr.tensor(v)).sum(), x)
    tx = torch.tensor(a, requires_grad=True)
    (tg,) = torch.autograd.grad(f(tx, torch.tensor(A)), tx, create_graph=True)
    (thv,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), tx)
    np.testing.assert_allclose(hv.numpy(), thv.numpy(), rtol=1e-10)


def test_full_hessian_of_a_composite_function_matches_torch():
    a = np.array([0.3, -0.8, 1.1])

    def f(x):
        return (x.sigmoid() * x.sin()).sum() * x.logsumexp(dim=0) + x.var()

    x = f64(a)
    (g,) = cr.autograd.grad(f(x), x, create_graph=True)
    rows = [cr.autograd.grad(g[i], x, retain_graph=True)[0].numpy() for i in range(3)]
    ref = torch.autograd.functional.hessian(f, torch.tensor(a))
    np.testing.assert_allclose(np.stack(rows), ref.numpy(), rtol=1e-10)


def test_third_derivative_of_tanh():
    x = cr.tensor(0.4, dtype=cr.float64, requires_grad=True)
    y = x.tanh()
    for _ in range(3):
        (y,) = cr.autograd.grad(y, x, create_graph=True)
    t = np.tanh(0.4)
    np.testing.assert_allclose(y.item(), -2 * (1 - t**2) * (1 - 3 * t**2), rtol=1e-12)


def test_backward_create_graph_then_grad_of_grad_accumulates():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.tolist() == [3.0, 12.0]
    x.grad = None
    g.sum().backward()
    assert x.grad.tolist() == [6.0, 12.0]


# ----- seed 000 -----------------------------------------------------------------------------
def test_seed000_logistic_regression_gradient_is_mean_of_p_minus_y_times_x():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((40, 3)), (rng.random(40) < 0.5).astype(np.float64)
    w = cr.tensor(rng.standard_normal(3), requires_grad=True)
    p = cr.sigmoid(cr.tensor(X) @ w)
    loss = -(cr.tensor(y) * p.log() + (1 - cr.tensor(y)) * (1 - p).log()).mean()
    loss.backward()
    pn = 1 / (1 + np.exp(-X @ w.detach().numpy()))
    np.testing.assert_allclose(w.grad.numpy(), ((pn - y)[:, None] * X).mean(0), rtol=1e-10)


def test_gradcheck_takes_non_leaf_and_transposed_inputs_and_needs_one_that_requires_grad():
    t = f64([[1.0, 2.0], [3.0, 4.0]])
    assert gradcheck(lambda x: (x * x).sum(), (t * 2,))
    assert gradcheck(lambda x: (x.exp() * cr.arange(4.0).reshape(2, 2)).sum(), (t.T,))
    with pytest.raises(ValueError, match="at least one input tensor to require grad"):
        gradcheck(lambda x: x.sum(), (cr.tensor([1.0, 2.0], dtype=cr.float64),))


def test_function_backward_must_return_one_gradient_per_input():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    a, b = f64([1.0]), f64([2.0])
    with pytest.raises(RuntimeError, match=r"TooFew.backward returned an incorrect number of "
                       r"gradients \(expected 2, got 1\)"):  # fmt: skip
        TooFew.apply(a, b).sum().backward()


# ----- tensor hooks: watch and change the gradient that flows through a tensor ---------------
def _hooked_run(lib):
    x = lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64, requires_grad=True)
    seen = []
    y = x * x
    y.register_hook(lambda g: seen.append(("y", g.tolist())))
    y.register_hook(lambda g: g * 10)  # replaces the gradient flowing on from y
    h = y.register_hook(lambda g: seen.append(("after", g.tolist())))
    z = y.sin().sum() + y.sum()
    x.register_hook(lambda g: seen.append(("x", g.tolist())))
    x.register_hook(lambda g: g + 1)  # runs before .grad accumulates
    z.backward(retain_graph=True)
    h.remove()
    x.grad = None
    z.backward()
    return seen, x.grad.tolist()


def test_register_hook_matches_torch():
    ours, theirs = _hooked_run(cr), _hooked_run(torch)
    assert len(ours[0]) == len(theirs[0])
    for (na, a), (nb, b) in zip(ours[0], theirs[0]):
        assert na == nb
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)


def test_hooks_run_for_autograd_grad_and_with_create_graph():
    x = f64([0.5, 1.5])
    y = x**3
    y.register_hook(lambda g: g * 2)
    (g,) = cr.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 2 * 3 * np.array([0.5, 1.5]) ** 2)
    (h,) = cr.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 2 * 6 * np.array([0.5, 1.5]))


def test_hook_errors():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        cr.ones(2).register_hook(lambda g: g)
    x = f64([1.0, 2.0])
    x.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match=r"hook returned a gradient of shape \(\)"):
        (x * 2).sum().backward()
    y = f64([1.0])
    y.register_hook(lambda g: 3.0)
    with pytest.raises(TypeError, match="must return a Tensor or None, got float"):
        (y * 2).sum().backward()


def _sincos(lib):
    base = Function if lib is cr else torch.autograd.Function

    class SinCos(base):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin(), x.cos()

        @staticmethod
        def backward(ctx, gs, gc):
            (x,) = ctx.saved_tensors
            return gs * x.cos() - gc * x.sin()

    return SinCos


def test_function_with_several_outputs_matches_torch_to_second_order():
    a = np.array([0.3, -1.2, 2.0])
    results = []
    for lib in (cr, torch):
        x = lib.tensor(a, dtype=lib.float64, requires_grad=True)
        s, c = _sincos(lib).apply(x)
        (s * 2 + c * c).sum().backward()
        first = x.grad.numpy().copy()
        x.grad = None
        s, _ = _sincos(lib).apply(x)  # an output that gets no gradient counts as zeros
        s.sum().backward()
        unused = x.grad.numpy().copy()
        s, c = _sincos(lib).apply(x)
        (g,) = lib.autograd.grad((s * c).sum(), x, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), x)
        results.append((first, unused, g.detach().numpy(), h.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    x = f64(a)
    assert gradcheck(lambda t: _sincos(cr).apply(t)[1] * 3, (x,))
    with pytest.raises(NotImplementedError, match="explain: a multi-output Function"):
        from chainrule.viz import explain

        explain(sum(_sincos(cr).apply(x)).sum(), params={"x": x})
