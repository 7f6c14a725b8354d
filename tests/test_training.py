"""Training on real data, asserting accuracy (issue 4): digits MLP and CNN, breast-cancer
logistic regression at scikit-learn's L2-regularized optimum."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.cli import load_dataset
from chainrule.data import DataLoader, Generator, TensorDataset
from chainrule.train import build_model, evaluate, fit


def _train(kind: str, epochs: int, lr: float, seed: int = 0) -> float:
    cr.manual_seed(seed)
    d = load_dataset("digits", seed)
    model = build_model(kind, d["X_train"].shape[1:], d["num_classes"], hidden=(256, 128))
    loader = DataLoader(
        TensorDataset(d["X_train"], d["y_train"]), batch_size=32, shuffle=True,
        generator=Generator().manual_seed(seed),
    )  # fmt: skip
    opt = optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    fit(model, loader, opt, nn.CrossEntropyLoss(), epochs, scheduler=sched, progress=False)
    test = DataLoader(TensorDataset(d["X_test"], d["y_test"]), batch_size=512)
    return evaluate(model, test, nn.CrossEntropyLoss())[1]


def test_digits_mlp_reaches_97_percent():
    assert _train("mlp", epochs=30, lr=1e-3) >= 0.97


def test_digits_cnn_reaches_97_percent():
    assert _train("cnn", epochs=15, lr=2e-3) >= 0.97


def test_breast_cancer_logistic_regression_reaches_sklearn_optimum():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(X, y)
    del sklearn

    def objective(w: np.ndarray, b: float) -> float:  # sklearn's: 0.5 |w|^2 + C sum(log-loss)
        z = X @ w + b
        return 0.5 * w @ w + np.logaddexp(0, -(2 * y - 1) * z).sum()

    target = objective(ref.coef_[0], ref.intercept_[0])
    model = nn.Linear(30, 1).double()
    Xt, yt = cr.tensor(X), cr.tensor(y.astype(np.float64))
    # Full-batch Nesterov gradient descent with step 1/L, L bounding the Hessian's largest
    # eigenvalue (0.25 * lambda_max(X1^T X1) + 1, X1 = X with a column of ones).
    X1 = np.hstack([X, np.ones((len(X), 1))])
    L = 0.25 * np.linalg.eigvalsh(X1.T @ X1).max() + 1
    opt = optim.SGD(model.parameters(), lr=1 / L, momentum=0.9, nesterov=True)
    for _ in range(3000):
        opt.zero_grad()
        logits = model(Xt).reshape(-1)
        loss = F.binary_cross_entropy_with_logits(logits, yt, reduction="sum")
        loss = loss + 0.5 * (model.weight * model.weight).sum()
        loss.backward()
        opt.step()
    got = objective(model.weight.detach().numpy()[0], model.bias.item())
    assert abs(got - target) / target <= 1e-6, (got, target)


def test_fashion_mnist_smoke():
    from chainrule.data.datasets import load_fashion_mnist

    try:
        X, y = load_fashion_mnist(train=False)
    except (FileNotFoundError, RuntimeError) as e:
        pytest.skip(f"Fashion-MNIST files not installed: {e}")
    cr.manual_seed(0)
    X, y = X[:2000], y[:2000]
    model = build_model("mlp", X.shape[1:], 10, hidden=(64,))
    loader = DataLoader(TensorDataset(X[:1500], y[:1500]), batch_size=64, shuffle=True)
    opt = optim.Adam(model.parameters(), lr=2e-3)
    fit(model, loader, opt, nn.CrossEntropyLoss(), 3, progress=False)
    acc = evaluate(model, DataLoader(TensorDataset(X[1500:], y[1500:]), 500), F.cross_entropy)[1]
    assert acc >= 0.70  # 1500 images, 3 epochs: well above chance (0.10)
