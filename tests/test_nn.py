"""chainrule.nn against torch.nn: every layer with the same weights (forward, input gradient and
every parameter's gradient), train/eval behaviour, the Module system, state dicts and utils."""

import copy
import math
import pickle
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn
from chainrule.nn import utils

RTOL, ATOL = 1e-9, 1e-11


@pytest.fixture(autouse=True)
def _seed():
    cr.manual_seed(0)
    torch.manual_seed(0)


def _np(t):
    return t.detach().numpy() if isinstance(t, (cr.Tensor, torch.Tensor)) else np.asarray(t)


def _load_torch_weights(m, t):
    """Copy torch's state_dict, converted to numpy, into the chainrule module."""
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})


def compare(m, t, *inputs, rtol=RTOL, atol=ATOL, copy_weights=True):
    """Forward both modules on the same float64 inputs; compare outputs, the gradient of every
    floating input and of every parameter (same names), and the buffers afterwards."""
    m.double()
    t.double()
    if copy_weights:
        _load_torch_weights(m, t)
    xs = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    ts = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    out, tout = m(*xs), t(*ts)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(_np(out), _np(tout), rtol=rtol, atol=atol, err_msg="forward")
    if tout.requires_grad:
        w = np.random.default_rng(1).standard_normal(tuple(tout.shape))
        (out * cr.tensor(w)).sum().backward()
        (tout * torch.tensor(w)).sum().backward()
        for i, (x, tx) in enumerate(zip(xs, ts)):
            if tx.requires_grad:
                np.testing.assert_allclose(
                    _np(x.grad), _np(tx.grad), rtol=rtol, atol=atol, err_msg=f"grad of input {i}"
                )
        tparams = dict(t.named_parameters())
        names = [n for n, _ in m.named_parameters()]
        assert names == list(tparams)
        for name, p in m.named_parameters():
            tp = tparams[name]
            if tp.grad is None:
                assert p.grad is None or not np.any(_np(p.grad))
                continue
            np.testing.assert_allclose(
                _np(p.grad), _np(tp.grad), rtol=rtol, atol=atol, err_msg=f"grad of {name}"
            )
    tbuf = dict(t.named_buffers())
    for name, b in m.named_buffers():
        np.testing.assert_allclose(_np(b), _np(tbuf[name]), rtol=rtol, atol=atol, err_msg=name)
    return out, tout


def _randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ----- layers against torch.nn -------------------------------------------------------------
LAYERS = {
    "linear": (lambda M: M.Linear(3, 4), [(5, 3)]),
    "linear_3d_nobias": (lambda M: M.Linear(3, 4, bias=False), [(2, 5, 3)]),
    "relu": (lambda M: M.ReLU(), [(4, 5)]),
    "leaky_relu": (lambda M: M.LeakyReLU(0.2), [(4, 5)]),
    "gelu": (lambda M: M.GELU(), [(4, 5)]),
    "gelu_tanh": (lambda M: M.GELU(approximate="tanh"), [(4, 5)]),
    "sigmoid": (lambda M: M.Sigmoid(), [(4, 5)]),
    "tanh": (lambda M: M.Tanh(), [(4, 5)]),
    "softplus": (lambda M: M.Softplus(beta=2.0, threshold=1.0), [(4, 5)]),
    "softmax": (lambda M: M.Softmax(dim=1), [(3, 4, 2)]),
    "log_softmax": (lambda M: M.LogSoftmax(dim=-1), [(3, 4)]),
    "conv": (lambda M: M.Conv2d(3, 4, 3, stride=2, padding=1), [(2, 3, 7, 6)]),
    "conv_groups": (
        lambda M: M.Conv2d(4, 6, (3, 2), dilation=(2, 1), groups=2, bias=False),
        [(2, 4, 8, 7)],
    ),
    "conv_same_reflect": (
        lambda M: M.Conv2d(2, 3, 3, padding="same", padding_mode="reflect"),
        [(1, 2, 5, 6)],
    ),
    "conv_same_even": (lambda M: M.Conv2d(2, 3, 4, padding="same"), [(2, 2, 6, 5)]),
    "conv_unbatched": (lambda M: M.Conv2d(2, 3, 3), [(2, 5, 5)]),
    "maxpool": (lambda M: M.MaxPool2d(2), [(2, 3, 6, 6)]),
    "maxpool_stride_pad": (lambda M: M.MaxPool2d(3, stride=2, padding=1), [(2, 2, 7, 8)]),
    "avgpool": (lambda M: M.AvgPool2d(2), [(2, 3, 6, 6)]),
    "avgpool_pad": (lambda M: M.AvgPool2d(3, 2, 1), [(2, 2, 7, 8)]),
    "batchnorm1d": (lambda M: M.BatchNorm1d(3), [(8, 3)]),
    "batchnorm1d_3d": (lambda M: M.BatchNorm1d(3, momentum=None), [(4, 3, 5)]),
    "batchnorm2d": (lambda M: M.BatchNorm2d(3), [(4, 3, 5, 5)]),
    "batchnorm2d_noaffine": (lambda M: M.BatchNorm2d(3, affine=False), [(4, 3, 2, 2)]),
    "batchnorm_untracked": (lambda M: M.BatchNorm1d(3, track_running_stats=False), [(6, 3)]),
    "layernorm": (lambda M: M.LayerNorm(5), [(3, 5)]),
    "layernorm_2d": (lambda M: M.LayerNorm((4, 5), eps=1e-3), [(2, 3, 4, 5)]),
    "layernorm_noaffine": (lambda M: M.LayerNorm(5, elementwise_affine=False), [(3, 5)]),
    "flatten": (lambda M: M.Flatten(), [(2, 3, 4, 5)]),
    "flatten_0_1": (lambda M: M.Flatten(0, 1), [(2, 3, 4)]),
    "unflatten": (lambda M: M.Unflatten(1, (2, 3)), [(4, 6)]),
    "identity": (lambda M: M.Identity(), [(2, 3)]),
    "dropout_eval": (lambda M: M.Dropout(0.5).eval(), [(4, 5)]),
    "sequential": (
        lambda M: M.Sequential(
            M.Conv2d(1, 4, 3, padding=1),
            M.BatchNorm2d(4),
            M.ReLU(),
            M.MaxPool2d(2),
            M.Flatten(),
            M.Linear(4 * 3 * 3, 5),
            M.Tanh(),
            M.LayerNorm(5),
            M.Linear(5, 2),
        ),
        [(3, 1, 6, 6)],
    ),  # fmt: skip
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_torch(name):
    make, shapes = LAYERS[name]
    m, t = make(nn), make(torch.nn)
    compare(m, t, *[_randn(*s, seed=i) for i, s in enumerate(shapes)])
    assert repr(m) == repr(t)


def test_batchnorm_and_dropout_in_eval_mode_match_torch():
    for make, shape in [
        (lambda M: M.BatchNorm1d(3), (8, 3)),
        (lambda M: M.BatchNorm2d(3), (4, 3, 5, 5)),
        (lambda M: M.BatchNorm1d(3, track_running_stats=False), (6, 3)),
    ]:
        m, t = make(nn), make(torch.nn)
        compare(m, t, _randn(*shape))  # one training step moves the running statistics
        m.eval(), t.eval()
        compare(m, t, _randn(*shape, seed=5), copy_weights=False)


def test_embedding_matches_torch():
    m, t = nn.Embedding(10, 3, padding_idx=2), torch.nn.Embedding(10, 3, padding_idx=2)
    assert repr(m) == repr(t)
    assert m.weight[2].tolist() == [0.0, 0.0, 0.0]
    idx = np.array([[0, 2, 9], [2, 2, 4]])
    compare(m, t, idx)
    assert not np.any(_np(m.weight.grad)[2])  # the padding row gets no gradient
    e = nn.Embedding.from_pretrained(cr.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not e.weight.requires_grad and e(cr.tensor([1, 0])).tolist() == [[3, 4], [1, 2]]
    with pytest.raises(TypeError, match="integer"):
        m(cr.tensor([0.0]))


@pytest.mark.parametrize("bad", [-1, -3, 3, 10])
def test_embedding_rejects_out_of_range_indices_like_torch(bad):
    """A negative index is not a count from the end: torch raises IndexError for it too."""
    m = nn.Embedding(3, 2)
    with pytest.raises(IndexError, match="index out of range"):
        torch.nn.Embedding(3, 2)(torch.tensor([0, bad]))
    with pytest.raises(IndexError, match=rf"embedding: index {bad} .*num_embeddings=3"):
        m(cr.tensor([0, bad]))
    with pytest.raises(IndexError, match=rf"index {bad} "):
        nn.functional.embedding(cr.tensor([[bad, 1]]), m.weight)
    assert m(cr.tensor([0, 2])).shape == (2, 2)


LOSSES = [
    ("MSELoss", {}, "regression"),
    ("L1Loss", {"reduction": "sum"}, "regression"),
    ("HuberLoss", {"delta": 0.5}, "regression"),
    ("SmoothL1Loss", {"beta": 0.5, "reduction": "none"}, "regression"),
    ("BCELoss", {}, "probability"),
    ("BCELoss", {"weight": [0.5, 2.0, 1.0, 1.0], "reduction": "sum"}, "probability"),
    ("BCEWithLogitsLoss", {"pos_weight": [1.0, 3.0, 0.5, 2.0]}, "binary"),
    ("BCEWithLogitsLoss", {"reduction": "none"}, "binary"),
    ("CrossEntropyLoss", {}, "classes"),
    ("CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5, 1.5], "ignore_index": 1}, "classes"),
    ("CrossEntropyLoss", {"label_smoothing": 0.1, "reduction": "sum"}, "classes"),
    ("CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5, 1.5], "label_smoothing": 0.2}, "classes"),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, "soft"),
    ("NLLLoss", {"weight": [1.0, 2.0, 0.5, 1.5]}, "log_probs"),
    ("NLLLoss", {"reduction": "none", "ignore_index": 3}, "log_probs"),
]


@pytest.mark.parametrize(
    "name,kwargs,kind", LOSSES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LOSSES)]
)
def test_loss_matches_torch(name, kwargs, kind):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4))
    if kind == "regression":
        y = rng.standard_normal((6, 4))
    elif kind == "probability":
        x, y = 1 / (1 + np.exp(-x)), rng.random((6, 4))
    elif kind == "binary":
        y = (rng.random((6, 4)) > 0.5).astype(np.float64)
    elif kind == "soft":
        y = rng.random((6, 4))
        y /= y.sum(1, keepdims=True)
    else:
        y = np.array([0, 1, 3, 2, 1, 3])
        if kind == "log_probs":
            x = x - np.log(np.exp(x).sum(1, keepdims=True))
    m_kwargs = {
        k: cr.tensor(v, dtype=cr.float64) if isinstance(v, list) else v for k, v in kwargs.items()
    }
    t_kwargs = {
        k: torch.tensor(v, dtype=torch.float64) if isinstance(v, list) else v
        for k, v in kwargs.items()
    }
    m, t = getattr(nn, name)(**m_kwargs), getattr(torch.nn, name)(**t_kwargs)
    compare(m, t, x, y, rtol=1e-7, atol=1e-10)
    assert repr(m) == repr(t)
    assert list(m.state_dict()) == list(t.state_dict())


def test_loss_reduction_is_checked():
    with pytest.raises(ValueError, match="'average' is not a valid value for reduction"):
        nn.MSELoss(reduction="average")
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.CrossEntropyLoss(reduce=False).reduction == "none"


# ----- train vs eval ------------------------------------------------------------------------
def test_dropout_train_and_eval():
    x = cr.ones(200, 100)
    d = nn.Dropout(0.3)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.02  # 20000 draws: 5 standard errors is 0.016
    np.testing.assert_array_equal(d.eval()(x).numpy(), x.numpy())
    assert not np.any(nn.Dropout(1.0)(x).numpy())
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    cr.manual_seed(5)
    a = nn.Dropout(0.5)(x).numpy()
    cr.manual_seed(5)
    np.testing.assert_array_equal(a, nn.Dropout(0.5)(x).numpy())  # the global generator
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    w = cr.ones(10, requires_grad=True)
    out = nn.Dropout(0.5)(w)
    out.sum().backward()
    np.testing.assert_array_equal(_np(w.grad), _np(out))  # gradient = the mask, scaled


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("dims", [(16, 4), (8, 4, 6), (6, 4, 3, 5)])
def test_batchnorm_running_statistics_follow_torch_over_several_steps(momentum, dims):
    cls = "BatchNorm2d" if len(dims) == 4 else "BatchNorm1d"
    m, t = getattr(nn, cls)(4, momentum=momentum), getattr(torch.nn, cls)(4, momentum=momentum)
    m.double(), t.double()
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal(dims) * 3 + 2
        m(cr.tensor(x)), t(torch.tensor(x))
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(_np(getattr(m, name)), _np(getattr(t, name)), rtol=1e-12)
    assert m.num_batches_tracked.item() == t.num_batches_tracked.item() == 5
    assert m.num_batches_tracked.dtype == np.int64
    m.eval(), t.eval()
    x = rng.standard_normal(dims)
    np.testing.assert_allclose(_np(m(cr.tensor(x))), _np(t(torch.tensor(x))), rtol=1e-10)
    m.eval()(cr.tensor(x))
    assert m.num_batches_tracked.item() == 5  # eval mode leaves the statistics alone


def test_train_eval_flags_propagate():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert all(mod.training for mod in model.modules())
    assert model.eval() is model
    assert not any(mod.training for mod in model.modules())
    model.train()
    assert all(mod.training for mod in model.modules())
    with pytest.raises(ValueError, match="boolean"):
        model.train("no")


# ----- the Module system ---------------------------------------------------------------------
def _build_net(self, M):
    self.features = M.Sequential(
        OrderedDict(conv=M.Conv2d(1, 2, 3), bn=M.BatchNorm2d(2), act=M.ReLU(), pool=M.AvgPool2d(2))
    )
    self.blocks = M.ModuleList([M.Linear(8, 8) for _ in range(3)] + [M.Linear(8, 4, bias=False)])
    self.heads = M.ModuleDict({"a": M.Linear(4, 2), "b": M.Sequential(M.Linear(4, 1), M.Sigmoid())})
    self.scale = M.Parameter(torch.ones(1) if M is torch.nn else cr.ones(1))
    self.register_buffer("step", torch.tensor(0) if M is torch.nn else cr.tensor(0))


def _net_forward(self, x):
    h = self.features(x).flatten(1)
    for block in self.blocks:
        h = block(h).tanh()
    return self.heads["a"](h) * self.scale + self.heads["b"](h)


class Net(nn.Module):
    def __init__(self, M=nn):
        super().__init__()
        _build_net(self, M)

    forward = _net_forward


class TorchNet(torch.nn.Module):
    def __init__(self, M=torch.nn):
        super().__init__()
        _build_net(self, M)

    forward = _net_forward


def test_nested_model_names_repr_state_dict_and_outputs_match_torch():
    m, t = Net(nn), TorchNet(torch.nn)
    assert repr(m).replace("Net", "TorchNet", 1) == repr(t)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in m.named_children()] == [n for n, _ in t.named_children()]
    assert list(m.state_dict()) == list(t.state_dict())
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in t.parameters())
    assert len(list(m.parameters(recurse=False))) == len(list(t.parameters(recurse=False))) == 1
    compare(m, t, _randn(3, 1, 6, 6))


def test_state_dict_round_trip_and_sharing():
    a, b = Net(nn), Net(nn)
    x = cr.tensor(_randn(2, 1, 6, 6), dtype=cr.float32)
    a.eval(), b.eval()
    assert not np.allclose(_np(a(x)), _np(b(x)))
    sd = a.state_dict()
    assert all(type(v) is cr.Tensor and not v.requires_grad for v in sd.values())
    assert np.shares_memory(sd["blocks.0.weight"]._data, a.blocks[0].weight._data)
    res = b.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    np.testing.assert_array_equal(_np(a(x)), _np(b(x)))
    assert not np.shares_memory(b.blocks[0].weight._data, a.blocks[0].weight._data)
    # numpy arrays and nested lists load too
    c = Net(nn).eval()
    c.load_state_dict({k: v.numpy().tolist() for k, v in sd.items()})
    np.testing.assert_array_equal(_np(a(x)), _np(c(x)))
    # loading copies in place: parameter objects (held by optimizers) keep their identity
    w = c.blocks[0].weight
    c.load_state_dict(Net(nn).state_dict())
    assert c.blocks[0].weight is w
    # assign=True replaces the tensors instead
    c.load_state_dict(sd, assign=True)
    assert c.blocks[0].weight is not w and isinstance(c.blocks[0].weight, nn.Parameter)


def test_torch_state_dict_as_numpy_gives_torch_outputs():
    t = TorchNet(torch.nn).eval()
    with torch.no_grad():
        t.features.bn.running_mean.uniform_(-1, 1)
        t.features.bn.running_var.uniform_(0.5, 2)
    m = Net(nn).eval()
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    x = _randn(4, 1, 6, 6).astype(np.float32)
    np.testing.assert_allclose(_np(m(cr.tensor(x))), _np(t(torch.tensor(x))), rtol=1e-5, atol=1e-6)


def _torch_sizes_as_tuples(msg):
    return re.sub(
        r"torch\.Size\(\[([^\]]*)\]\)",
        lambda m: str(tuple(int(v) for v in m[1].split(",") if v.strip())),
        msg,
    )


def test_load_state_dict_errors_name_the_keys_and_shapes():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    sd = m.state_dict()
    missing = {k: v for k, v in sd.items() if k != "2.bias"}
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict({**missing, "2.scale": cr.ones(1), "5.weight": cr.ones(1)})
    msg = str(e.value)
    assert msg.startswith("Error(s) in loading state_dict for Sequential:")
    assert 'Missing key(s) in state_dict: "2.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "5.weight", "2.scale".' in msg
    res = m.load_state_dict({**missing, "extra": cr.ones(1)}, strict=False)
    assert res.missing_keys == ["2.bias"] and res.unexpected_keys == ["extra"]
    # the torch messages, word for word (shapes printed as tuples rather than torch.Size)
    t = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    with pytest.raises(RuntimeError) as te:
        t.load_state_dict({k: torch.ones(1) for k in ["0.weight"]} | {"x": torch.ones(1)})
    with pytest.raises(RuntimeError) as ce:
        m.load_state_dict({"0.weight": cr.ones(1), "x": cr.ones(1)})
    assert str(ce.value) == _torch_sizes_as_tuples(str(te.value))
    bad = dict(sd)
    bad["0.weight"] = np.zeros((4, 2))
    for strict in (True, False):  # a shape mismatch is an error either way
        with pytest.raises(
            RuntimeError,
            match=r"size mismatch for 0\.weight: copying a param with shape \(4, 2\) from checkpoint, the shape in current model is \(3, 2\)",
        ):
            m.load_state_dict(bad, strict=strict)
    with pytest.raises(TypeError, match="dict-like"):
        m.load_state_dict([1, 2])


def test_parameter_is_a_tensor_subclass():
    p = nn.Parameter(cr.tensor([1.0, 2.0]))
    tp = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    assert repr(p) == repr(tp)
    assert isinstance(p, cr.Tensor) and p.requires_grad and p.is_leaf
    assert type(p * 2) is cr.Tensor and type(p.detach()) is cr.Tensor and type(p[0]) is cr.Tensor
    assert type(p.data) is cr.Tensor
    assert not nn.Parameter(cr.ones(2), requires_grad=False).requires_grad
    src = cr.zeros(3)
    assert np.shares_memory(nn.Parameter(src)._data, src._data)  # shares memory, as torch
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(cr.tensor([1, 2]))
    (p * p).sum().backward()
    assert p.grad.tolist() == [2.0, 4.0] and type(p.grad) is cr.Tensor
    q = pickle.loads(pickle.dumps(p))
    assert type(q) is nn.Parameter and q.tolist() == [1.0, 2.0] and q.requires_grad


def test_attribute_registration():
    m = nn.Module()
    m.w = nn.Parameter(cr.ones(2))
    m.plain = cr.ones(2)  # a plain tensor attribute is not registered, as in torch
    m.sub = nn.Linear(1, 1)
    m.register_buffer("buf", cr.zeros(1))
    m.register_buffer("tmp", cr.zeros(1), persistent=False)
    m.layers = [nn.Linear(1, 1)]  # a plain list hides its modules
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    assert list(m.state_dict()) == ["w", "buf", "sub.weight", "sub.bias"]
    assert [n for n, _ in m.named_buffers()] == ["buf", "tmp"]
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = cr.ones(2)
    m.w = None
    assert [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match="child module 'sub'"):
        m.sub = 3
    with pytest.raises(TypeError, match="buffer 'buf'"):
        m.buf = 3
    m.buf = cr.ones(1)
    assert m.state_dict()["buf"].tolist() == [1.0]
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("plain", cr.zeros(1))
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nothing'"):
        m.nothing  # noqa: B018
    del m.sub
    assert "sub" not in dict(m.named_children())

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(cr.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(cr.ones(1))


def test_shared_parameters_are_listed_once():
    a = nn.Linear(3, 3)
    m = nn.Sequential(a, nn.ReLU(), a)
    ta = torch.nn.Linear(3, 3)
    t = torch.nn.Sequential(ta, torch.nn.ReLU(), ta)
    assert len(list(m.parameters())) == len(list(t.parameters())) == 2
    assert list(m.state_dict()) == list(t.state_dict())
    compare(m, t, _randn(2, 3))
    b = nn.Linear(3, 3)
    b.weight = a.weight  # weight tying
    assert [n for n, _ in nn.Sequential(a, b).named_parameters()] == [
        "0.weight",
        "0.bias",
        "1.bias",
    ]


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear)
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[1] is seq[2]
    assert [type(x).__name__ for x in seq] == ["Linear", "ReLU", "Linear"]
    seq.append(nn.Sigmoid())
    assert list(seq.state_dict())[-1] == "2.bias" and len(seq) == 4
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"]
    with pytest.raises(IndexError, match="out of range"):
        seq[7]
    seq[2] = nn.Tanh()
    assert isinstance(seq[2], nn.Tanh)
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.fc is named[0]

    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.ReLU(), nn.Linear(2, 3)])
    tml = torch.nn.ModuleList(
        [
            torch.nn.Linear(2, 2),
            torch.nn.Linear(2, 2),
            torch.nn.ReLU(),
            torch.nn.ReLU(),
            torch.nn.Linear(2, 3),
        ]
    )
    assert repr(ml) == repr(tml)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())
    ml.insert(1, nn.Tanh())
    assert isinstance(ml[1], nn.Tanh) and len(ml) == 6
    ml.extend([nn.Sigmoid()])
    assert len(ml[2:4]) == 2 and isinstance(ml[-1], nn.Sigmoid)
    with pytest.raises(TypeError, match="iterable"):
        ml.extend(nn.ReLU())

    md = nn.ModuleDict({"b": nn.Linear(1, 1), "a": nn.ReLU()})
    assert list(md) == ["b", "a"] and "a" in md and len(md) == 2
    md["c"] = nn.Tanh()
    assert list(md.keys()) == ["b", "a", "c"] and isinstance(md.pop("c"), nn.Tanh)
    tmd = torch.nn.ModuleDict({"b": torch.nn.Linear(1, 1), "a": torch.nn.ReLU()})
    assert repr(md) == repr(tmd)
    assert repr(nn.Identity(3, x=1)) == repr(torch.nn.Identity(3, x=1))


@pytest.mark.parametrize("lib", [nn, torch.nn], ids=["chainrule", "torch"])
def test_containers_accept_containers_like_torch(lib):
    """ModuleList/ModuleDict take other containers; Sequential + Sequential is a new one."""
    a, b, c = lib.ReLU(), lib.Tanh(), lib.Sigmoid()
    ml = lib.ModuleList(lib.ModuleList([a, b]))
    assert list(ml) == [a, b]
    ml.extend(lib.Sequential(c))
    ml += lib.ModuleList([a])
    assert list(ml) == [a, b, c, a] and list(ml._modules) == ["0", "1", "2", "3"]
    if lib is nn:  # torch raises "dictionary changed size during iteration" here
        ml.extend(ml)  # a snapshot of itself, not an endless loop
        assert list(ml) == [a, b, c, a] * 2

    md = lib.ModuleDict(lib.ModuleDict({"x": a, "y": b}))
    md.update(lib.ModuleDict({"z": c, "x": b}))
    assert list(md.items()) == [("x", b), ("y", b), ("z", c)]
    with pytest.raises(TypeError, match="ModuleDict.update"):
        md.update(5)

    s1, s2 = lib.Sequential(a, b), lib.Sequential(c)
    both = s1 + s2
    assert type(both) is lib.Sequential and both is not s1 and list(both) == [a, b, c]
    assert list(s1) == [a, b] and list(s2) == [c]  # the operands are unchanged
    s1 += s2
    assert list(s1) == [a, b, c] and list(s1._modules) == ["0", "1", "2"]
    with pytest.raises(ValueError, match="only objects of Sequential"):
        s1 + lib.ModuleList([a])


def test_zero_grad_requires_grad_apply_and_to():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    m(cr.randn(4, 2)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(_np(p.grad)) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert m.requires_grad_(False) is m and not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()

    visited = []
    m.apply(lambda mod: visited.append(type(mod).__name__))
    assert visited == ["Linear", "BatchNorm1d", "Sequential"]

    @cr.no_grad()
    def init_weights(mod):
        if isinstance(mod, nn.Linear):
            nn.init.constant_(mod.weight, 0.5)

    m.apply(init_weights)
    assert m[0].weight.tolist() == [[0.5, 0.5], [0.5, 0.5]]

    w = m[0].weight
    assert m.to(cr.float64) is m and m[0].weight is w  # same Parameter object, new dtype
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    m.float()
    assert w.dtype == np.float32 and m.to("cpu") is m
    with pytest.raises(TypeError, match="floating point"):
        m.to(cr.int64)


def test_forward_hooks():
    m = nn.Linear(2, 2)
    seen = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: seen.append(out.shape))
    out = m(cr.ones(3, 2))
    np.testing.assert_allclose(_np(out), np.broadcast_to(_np(m.bias), (3, 2)))
    assert seen == [(3, 2)]
    h1.remove(), h2.remove()
    m(cr.ones(3, 2))
    assert seen == [(3, 2)]


def test_deepcopy_and_pickle_modules():
    m = Net(nn).eval()
    x = cr.tensor(_randn(2, 1, 6, 6), dtype=cr.float32)
    for c in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        np.testing.assert_array_equal(_np(c(x)), _np(m(x)))
        assert c.blocks[0].weight is not m.blocks[0].weight
        assert isinstance(c.blocks[0].weight, nn.Parameter)
        with cr.no_grad():
            c.blocks[0].weight.fill_(0.0)
        assert np.any(_np(m.blocks[0].weight))


@pytest.mark.parametrize(
    "module,shape,message",
    [
        (nn.Linear(3, 4), (2, 5), r"Linear\(in_features=3, out_features=4, bias=True\) expected an input whose last dimension is 3, got shape \(2, 5\)"),
        (nn.Conv2d(3, 4, 3), (2, 5, 8, 8), r"Conv2d\(3, 4, .*\) expected a \(N, 3, H, W\) .* got shape \(2, 5, 8, 8\)"),
        (nn.BatchNorm2d(3), (2, 3, 4), r"BatchNorm2d\(3, .*\) expected a \(N, C, H, W\) input with C = 3, got shape \(2, 3, 4\)"),
        (nn.BatchNorm1d(3), (2, 4), r"BatchNorm1d\(3, .*\) expected .* C = 3, got shape \(2, 4\)"),
        (nn.LayerNorm(4), (2, 5), r"LayerNorm\(\(4,\), .*\) expected .* \(4,\), got shape \(2, 5\)"),
        (nn.MaxPool2d(2), (4, 4), r"MaxPool2d\(.*\) expected a 3-D .* got shape \(4, 4\)"),
    ],
)  # fmt: skip
def test_shape_errors_name_the_module_and_shapes(module, shape, message):
    with pytest.raises(ValueError, match=message):
        module(cr.zeros(*shape))


def test_constructor_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(3, 2, padding_idx=5)


def test_softmax_without_dim_warns_and_uses_torch_rule():
    x = _randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = nn.Softmax()(cr.tensor(x))
    with pytest.warns(UserWarning):
        ty = torch.nn.Softmax()(torch.tensor(x))
    np.testing.assert_allclose(_np(y), _np(ty), rtol=1e-12)


# ----- nn.utils ----------------------------------------------------------------------------
def _with_grads(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (2, 2, 3)]
    arrays = [rng.standard_normal(s) * 3 for s in shapes]
    grads = [rng.standard_normal(s) * 2 for s in shapes]
    ps = [nn.Parameter(cr.tensor(a)) for a in arrays]
    ts = [torch.nn.Parameter(torch.tensor(a)) for a in arrays]
    for p, t, g in zip(ps, ts, grads):
        p.grad, t.grad = cr.tensor(g), torch.tensor(g)
    return ps, ts


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ps, ts = _with_grads()
    total = utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type)
    assert isinstance(total, cr.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-12)
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=1e-12)
    # after clipping to 0.5 the norm is 0.5; a huge max_norm leaves the gradients unchanged
    after = utils.get_total_norm([p.grad for p in ps], norm_type).item()
    assert after == pytest.approx(min(max_norm, total.item()), rel=1e-5)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(cr.ones(3))
    assert utils.clip_grad_norm_([p], 1.0).item() == 0.0  # no gradients at all
    p.grad = cr.tensor([float("nan"), 1.0, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    q = nn.Parameter(cr.ones(2))
    q.grad = cr.tensor([3.0, 4.0])
    utils.clip_grad_norm_(q, 1.0)  # a single tensor is accepted, as in torch
    np.testing.assert_allclose(_np(q.grad), [0.6, 0.8], rtol=1e-5)
    assert q.grad.dtype == np.float32


def test_clip_grad_value_matches_torch():
    ps, ts = _with_grads(1)
    utils.clip_grad_value_(ps, 1.5)
    torch.nn.utils.clip_grad_value_(ts, 1.5)
    for p, t in zip(ps, ts):
        np.testing.assert_array_equal(_np(p.grad), _np(t.grad))


def test_parameters_to_vector_and_back():
    ps, ts = _with_grads()
    vec = utils.parameters_to_vector(ps)
    np.testing.assert_array_equal(_np(vec), _np(torch.nn.utils.parameters_to_vector(ts)))
    # differentiable, as torch's: d(sum(vec * c))/dp = c reshaped
    c = np.arange(vec.shape[0], dtype=np.float64)
    for p in ps:
        p.grad = None
    (vec * cr.tensor(c)).sum().backward()
    np.testing.assert_array_equal(np.concatenate([_np(p.grad).ravel() for p in ps]), c)
    # the round trip
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    theta = utils.parameters_to_vector(model.parameters())
    assert theta.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    new = cr.tensor(np.arange(theta.shape[0], dtype=np.float32))
    utils.vector_to_parameters(new, model.parameters())
    np.testing.assert_array_equal(_np(utils.parameters_to_vector(model.parameters())), _np(new))
    assert model[0].weight.tolist()[0] == [0.0, 1.0, 2.0] and model[2].bias.tolist() == [24.0, 25.0]
    with pytest.raises(ValueError, match="hold 26"):
        utils.vector_to_parameters(cr.zeros(5), model.parameters())
    with pytest.raises(TypeError, match="expected chainrule.Tensor"):
        utils.vector_to_parameters(np.zeros(26), model.parameters())


def test_cost_as_a_function_of_all_weights_and_biases_seed_002():
    """C: R^(#W + #b) -> R through functional_call; its gradient is backprop's."""
    model = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2), nn.Sigmoid()).double()
    x, y = cr.tensor(_randn(5, 3)), cr.tensor(np.random.default_rng(2).random((5, 2)))
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]

    def cost(theta):
        pieces, i = {}, 0
        for name, shape in zip(names, shapes):
            n = math.prod(shape)
            pieces[name] = theta[i : i + n].reshape(shape)
            i += n
        return 0.5 * ((utils.functional_call(model, pieces, (x,)) - y) ** 2).sum()

    theta = utils.parameters_to_vector(model.parameters()).detach().requires_grad_()
    c = cost(theta)
    c.backward()
    (g_theta,) = [theta.grad]
    model.zero_grad()
    (0.5 * ((model(x) - y) ** 2).sum()).backward()
    np.testing.assert_allclose(c.item(), (0.5 * ((model(x) - y) ** 2).sum()).item(), rtol=1e-12)
    g_backprop = np.concatenate([_np(p.grad).ravel() for p in model.parameters()])
    np.testing.assert_allclose(_np(g_theta), g_backprop, rtol=1e-10)
    # central differences on a few coordinates
    t0 = _np(theta).copy()
    for k in (0, 7, 20, len(t0) - 1):
        e = np.zeros_like(t0)
        e[k] = 1e-6
        fd = (cost(cr.tensor(t0 + e)).item() - cost(cr.tensor(t0 - e)).item()) / 2e-6
        assert fd == pytest.approx(_np(g_theta)[k], rel=1e-5, abs=1e-8)
    assert all(type(p) is nn.Parameter for p in model.parameters())  # originals restored
    with pytest.raises(RuntimeError, match="no parameter or buffer 'nope'"):
        utils.functional_call(model, {"nope": cr.ones(1)}, (x,))
