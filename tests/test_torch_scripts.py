"""Short PyTorch scripts in the style of the official tutorials (the 60-minute blitz, "Learning
PyTorch with Examples", the basics), each run twice from the same source text: once as it is,
once with every ``import torch...`` resolved to ``chainrule...`` (the import swap alone). The
numbers they print must agree.

The scripts start from deterministic weights and data (``linspace``, ``arange``, ``fill_``),
because chainrule's random streams are NumPy's, not torch's: that is the one difference they
avoid, and it is deliberate. They also fit no parameter whose true gradient is 0 under Adam or
RMSprop (a bias before BatchNorm, an even coefficient fitted to an odd target): those optimizers
scale a round-off gradient up to a full step, so the two libraries' float32 rounding would
drive such runs apart. Printed text may differ where chainrule deliberately prints
differently (``(2, 3)`` for ``torch.Size([2, 3])``, ``float32`` for ``torch.float32``, tensor
reprs in NumPy's style); only the numbers in it are compared.
"""

import builtins
import contextlib
import io
import re

import numpy as np
import pytest

_real_import = builtins.__import__


def _to_chainrule(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and (name == "torch" or name.startswith("torch.")):
        name = "chainrule" + name[len("torch") :]
    return _real_import(name, globals, locals, fromlist, level)


def run(source: str, swap: bool, path: str) -> str:
    """Run ``source`` as a script, with ``torch`` imports sent to chainrule if ``swap``."""
    env_builtins = dict(builtins.__dict__)
    if swap:
        env_builtins["__import__"] = _to_chainrule
    namespace = {"__builtins__": env_builtins, "__name__": "__main__", "PATH": path}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<script>", "exec"), namespace)
    return out.getvalue()


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf")


def numbers(text: str) -> np.ndarray:
    return np.array([float(m) for m in _NUMBER.findall(text)])


SCRIPTS = {}

SCRIPTS["tensor_basics"] = """
import numpy as np
import torch

data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
np_array = np.array(data)
x_np = torch.from_numpy(np_array)
print(x_data.shape, x_data.dtype, x_np.dtype)
x_ones = torch.ones_like(x_data)
print(f"Ones Tensor: {x_ones.tolist()}")
shape = (2, 3)
print(torch.zeros(shape).shape, torch.ones(shape).sum().item())
tensor = torch.arange(12, dtype=torch.float32).reshape(3, 4)
print(f"Shape of tensor: {tensor.shape}")
print(f"Datatype of tensor: {tensor.dtype}")
device = "cuda" if torch.cuda.is_available() else "cpu"
tensor = tensor.to(device)
print(f"Device tensor is stored on: {tensor.device.type}")
print(f"First row: {tensor[0].tolist()}")
print(f"First column: {tensor[:, 0].tolist()}")
print(f"Last column: {tensor[..., -1].tolist()}")
tensor[:, 1] = 0
t1 = torch.cat([tensor, tensor, tensor], dim=1)
print(t1.size(), t1.size(1), t1.nelement())
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.t())
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
print(y1.tolist(), bool((y1 == y2).all()), bool((y1 == y3).all()))
z1 = tensor * tensor
z3 = torch.zeros_like(tensor)
torch.mul(tensor, tensor, out=z3)
print(z1.sum().item(), z3.sum().item())
agg = tensor.sum()
agg_item = agg.item()
print(agg_item, type(agg_item).__name__)
tensor.add_(5)
print(tensor.tolist())
t = torch.ones(5)
n = t.numpy()
t.add_(1)
print(t.tolist(), n.tolist())
n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
print(t.tolist(), n.tolist())
x = torch.linspace(0.5, 2.0, 4)
print(f"{x.log2().sum():.5f} {torch.log10(x).mean():.5f} {x.cumprod(0)[-1]:.5f}")
print(torch.softmax(x, dim=0).tolist(), torch.numel(x), x.narrow(0, 1, 2).tolist())
print(torch.zeros(3).scatter_(0, torch.tensor([2, 0]), torch.tensor([7.0, 8.0])).tolist())
print(x.masked_select(x > 1).tolist(), torch.clone(x).exp_().tolist())
"""

SCRIPTS["polynomial_autograd"] = """
import math
import torch

dtype = torch.float
device = torch.device("cpu")
x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)

a = torch.full((), 0.1, device=device, dtype=dtype, requires_grad=True)
b = torch.full((), -0.2, device=device, dtype=dtype, requires_grad=True)
c = torch.full((), 0.05, device=device, dtype=dtype, requires_grad=True)
d = torch.full((), 0.3, device=device, dtype=dtype, requires_grad=True)

learning_rate = 1e-6
for t in range(400):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum()
    if t % 100 == 99:
        print(t, loss.item())
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None

print(f"Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3")
"""

SCRIPTS["sequential_optim"] = """
import math
import torch

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x) + 0.1 * torch.cos(x)  # an even part: no coefficient is fitted to round-off
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)

model = torch.nn.Sequential(
    torch.nn.Linear(3, 1),
    torch.nn.Flatten(0, 1)
)
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.1, -0.05, 0.02]]))
    model[0].bias.fill_(0.01)
loss_fn = torch.nn.MSELoss(reduction="sum")

learning_rate = 1e-3
optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)
for t in range(300):
    y_pred = model(xx)
    loss = loss_fn(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

linear_layer = model[0]
print(
    f"Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + "
    f"{linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3"
)
"""

SCRIPTS["custom_function"] = """
import math
import torch


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


dtype = torch.float
x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype)
y = torch.sin(x)
a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
d = torch.full((), 0.3, dtype=dtype, requires_grad=True)

learning_rate = 5e-6
for t in range(300):
    P3 = LegendrePolynomial3.apply
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    if t % 100 == 99:
        print(t, f"{loss.item():.3f}")
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None

print(f"Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)")
"""

SCRIPTS["small_cnn"] = """
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 8, 3)
        self.fc1 = nn.Linear(8 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


net = Net()
with torch.no_grad():
    for name, p in net.named_parameters():
        k = torch.arange(p.numel(), dtype=torch.float32)
        p.copy_((torch.sin(k * 1.7 + len(name)) * 0.3).reshape(p.shape))
params = list(net.parameters())
print(len(params), params[0].size(), sum(p.numel() for p in params))

input = torch.cos(torch.arange(2 * 256, dtype=torch.float32) * 0.1).reshape(2, 1, 16, 16)
out = net(input)
print(out.shape, [f"{v:.5f}" for v in out[0].tolist()])
target = (torch.arange(20, dtype=torch.float32) / 20).view(2, -1)
criterion = nn.MSELoss()
loss = criterion(out, target)
print(f"{loss.item():.6f}")

net.zero_grad()
print("conv1.bias.grad before backward", net.conv1.bias.grad)
loss.backward()
print("conv1.bias.grad after backward", [f"{g:.6f}" for g in net.conv1.bias.grad.tolist()])

optimizer = optim.SGD(net.parameters(), lr=0.05)
for step in range(3):
    optimizer.zero_grad()
    loss = criterion(net(input), target)
    loss.backward()
    optimizer.step()
    print(step, f"{loss.item():.6f}")
"""

SCRIPTS["dataloader_loop"] = """
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset


class Squares(Dataset):
    def __init__(self, n):
        self.x = torch.linspace(-1, 1, n).unsqueeze(1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, idx):
        x = self.x[idx]
        return x, 3 * x ** 2 - x + 0.5


X = torch.linspace(-2, 2, 96).reshape(48, 2)
Y = (X[:, :1] * 1.5 - X[:, 1:] * 0.5 + 0.25)
for dataset in (TensorDataset(X, Y), Squares(40)):
    loader = DataLoader(dataset, batch_size=16, shuffle=False)
    features = dataset[0][0].shape[0]
    model = nn.Sequential(nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, 1))
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.linspace(-0.5, 0.5 + i / 10, p.numel()).reshape(p.shape))
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    size = len(loader.dataset)
    print(size, len(loader))
    for epoch in range(5):
        model.train()
        running = 0.0
        for batch, (xb, yb) in enumerate(loader):
            pred = model(xb)
            loss = loss_fn(pred, yb)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            running += loss.item() * xb.size(0)
        print(f"epoch {epoch}: {running / size:>8f}")
"""

SCRIPTS["dynamic_net"] = """
import math
import random
import torch


class DynamicNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.1))
        self.b = torch.nn.Parameter(torch.tensor(-0.3))
        self.c = torch.nn.Parameter(torch.tensor(0.05))
        self.d = torch.nn.Parameter(torch.tensor(0.2))
        self.e = torch.nn.Parameter(torch.tensor(-0.01))

    def forward(self, x):
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp
        return y

    def string(self):
        return (f"y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + "
                f"{self.d.item()} x^3 + {self.e.item()} x^4 ? + {self.e.item()} x^5 ?")


random.seed(0)
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
model = DynamicNet()
criterion = torch.nn.MSELoss(reduction="sum")
optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
for t in range(600):
    y_pred = model(x)
    loss = criterion(y_pred, y)
    if t % 200 == 199:
        print(t, loss.item())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"Result: {model.string()}")
print([tuple(p.shape) for p in model.parameters()], [n for n, _ in model.named_parameters()])
"""

SCRIPTS["save_load_state_dict"] = """
import torch
import torch.nn as nn

torch.backends.cudnn.benchmark = False
torch.backends.cudnn.deterministic = True


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4, bias=False)  # a bias before BatchNorm gets a zero gradient
        self.bn = nn.BatchNorm1d(4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


def init(model):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.cos(torch.arange(p.numel()) * 0.7 + i).reshape(p.shape) * 0.5)


model = TinyNet()
init(model)
x = torch.linspace(-1, 1, 30).reshape(10, 3)
y = torch.stack([x.sum(1), x[:, 0] - x[:, 2]], dim=1)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for step in range(20):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
print(f"trained loss {loss.item():.6f}")
for k, v in model.state_dict().items():
    print(k, tuple(v.shape))

torch.save(model.state_dict(), PATH)
model2 = TinyNet()
model2.load_state_dict(torch.load(PATH, weights_only=True))
model.eval()
model2.eval()
with torch.no_grad():
    a, b = model(x), model2(x)
print(torch.equal(a, b), [f"{v:.5f}" for v in a[:2].flatten().tolist()])

torch.save({"epoch": 20, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "loss": loss.item()}, PATH)
ckpt = torch.load(PATH, weights_only=True)
model3 = TinyNet()
model3.load_state_dict(ckpt["model"])
opt3 = torch.optim.Adam(model3.parameters(), lr=0.01)
opt3.load_state_dict(ckpt["optimizer"])
model3.train()
for m, opt in ((model, optimizer), (model3, opt3)):
    m.train()
    opt.zero_grad()
    nn.functional.mse_loss(m(x), y).backward()
    opt.step()
print(ckpt["epoch"], f"{ckpt['loss']:.6f}", torch.allclose(model.fc1.weight, model3.fc1.weight))
print(model.bn.running_mean.tolist(), int(model.bn.num_batches_tracked))
"""

SCRIPTS["no_grad_evaluation"] = """
import torch
import torch.nn as nn
import torch.nn.functional as F

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
t = torch.linspace(0, 6.28, 90)
X = torch.stack([torch.cos(t) * (1 + t / 7), torch.sin(t) * (1 + t / 7)], dim=1)
y = (torch.arange(90) % 3).long()
X, y = X.to(device), y.to(device)

model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3)).to(device)
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel()) * 0.37 + i).reshape(p.shape) * 0.6)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
for epoch in range(40):
    model.train()
    optimizer.zero_grad()
    loss = criterion(model(X), y)
    loss.backward()
    optimizer.step()
    if epoch % 10 == 9:
        print(epoch, f"{loss.item():.5f}")

model.eval()
correct = 0
with torch.no_grad():
    outputs = model(X)
    _, predicted = torch.max(outputs.data, 1)
    correct += (predicted == y).sum().item()
    test_loss = F.cross_entropy(outputs, y, reduction="sum").item()
print(f"Accuracy: {100 * correct / y.size(0):.2f}%, loss {test_loss / len(X):.5f}")
print(outputs.requires_grad, predicted.dtype == torch.int64)


@torch.inference_mode()
def predict(batch):
    return F.softmax(model(batch), dim=1)


probs = predict(X[:4])
print(probs.requires_grad, [f"{v:.4f}" for v in probs.flatten().tolist()])
print(probs.argmax(dim=1).tolist(), f"{probs.sum():.4f}")
"""


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_prints_the_same_numbers_under_torch_and_chainrule(name, tmp_path):
    pytest.importorskip("torch")
    source = SCRIPTS[name]
    theirs = run(source, swap=False, path=str(tmp_path / "torch.ckpt"))
    ours = run(source, swap=True, path=str(tmp_path / "chainrule.ckpt"))
    a, b = numbers(ours), numbers(theirs)
    assert a.shape == b.shape, f"different output:\n--- chainrule\n{ours}\n--- torch\n{theirs}"
    np.testing.assert_allclose(
        a, b, rtol=2e-4, atol=1e-4, err_msg=f"\n--- chainrule\n{ours}\n--- torch\n{theirs}"
    )


def test_the_swap_reaches_chainrule(tmp_path):
    out = run("import torch\nimport torch.nn as nn\nprint(torch.__name__, nn.__name__)", True, "")
    assert out.split() == ["chainrule", "chainrule.nn"]
