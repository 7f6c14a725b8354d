"""The seed documents' own numbers, as tests."""

import numpy as np

import chainrule as cr


def test_seed003_sigmoid_neuron():
    # CS231n's sigmoid neuron: w = [2, -3, -3], x = [-1, -2].
    w = cr.tensor([2.0, -3.0, -3.0], requires_grad=True)
    x = cr.tensor([-1.0, -2.0], requires_grad=True)
    f = cr.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
    f.backward()
    assert round(f.item(), 2) == 0.73
    np.testing.assert_allclose(np.round(x.grad.numpy(), 2), [0.39, -0.59])
    np.testing.assert_allclose(np.round(w.grad.numpy(), 2), [-0.2, -0.39, 0.2])


def test_seed000_logistic_regression_gradient_is_mean_of_p_minus_y_times_x():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = (rng.random(50) < 0.5).astype(np.float64)
    w = cr.tensor(rng.standard_normal(3), requires_grad=True)
    b = cr.tensor(0.1, dtype=cr.float64, requires_grad=True)
    p = cr.sigmoid(cr.tensor(X) @ w + b)
    yt = cr.tensor(y)
    loss = -(yt * cr.log(p) + (1 - yt) * cr.log(1 - p)).mean()
    loss.backward()
    pn = 1 / (1 + np.exp(-(X @ w.detach().numpy() + 0.1)))
    np.testing.assert_allclose(w.grad.numpy(), ((pn - y)[:, None] * X).mean(0), rtol=1e-10)
    np.testing.assert_allclose(b.grad.item(), (pn - y).mean(), rtol=1e-10)
