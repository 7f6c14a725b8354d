"""The path micrograd -> makemore -> GPT: the names corpus, the character tokenizer,
``multinomial``, the character models (against PyTorch), ``chainrule train --dataset names`` and
``chainrule sample``, safetensors weights crossing to and from PyTorch, and the examples."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

import chainrule as cr
from chainrule.cli import main
from chainrule.data import datasets
from chainrule.data.datasets import load_names
from chainrule.data.text import CharTokenizer
from chainrule.models import GPT, MLP, Bigram, build_char_model, generate
from chainrule.safetensors import load, load_file, load_metadata, save, save_file
from chainrule.train.lm import evaluate_lm, fit_lm, lm_loss, sample_words

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----- data ----------------------------------------------------------------------------------
def test_load_names_counts():
    first, female, male, last = (load_names(k) for k in ("first", "female", "male", "last"))
    assert (len(first), len(female), len(male), len(last)) == (5163, 4275, 1219, 88799)
    assert len(set(female) & set(male)) == 331 and set(first) == set(female) | set(male)
    assert first[:2] == ["mary", "patricia"] and len(set(first)) == len(first)
    assert all(w.isascii() and w.isalpha() and w.islower() for w in first + last)
    assert min(map(len, first)) == 2 and max(map(len, first)) == 11


def test_load_names_bad_kind_and_missing_package(monkeypatch):
    with pytest.raises(ValueError, match="unknown kind 'middle'"):
        load_names("middle")
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install names"):
        load_names()


def test_char_tokenizer():
    tok = CharTokenizer.from_texts(load_names())
    assert tok.vocab_size == 27 and tok.itos[:3] == [".", "a", "b"] and tok.stoi["z"] == 26
    assert tok.decode(tok.encode("emma")) == "emma"
    assert CharTokenizer.from_vocab(tok.itos) == tok
    X, Y = tok.training_pairs(["emma", "al"])
    assert X.tolist() == [[0, 5, 13, 13, 1], [0, 1, 12, 0, 0]]
    assert Y.tolist() == [[5, 13, 13, 1, 0], [1, 12, 0, -1, -1]]
    assert X.dtype == np.int64 and tok.training_pairs(["ab"], max_length=4)[0].shape == (1, 5)
    with pytest.raises(ValueError, match=r"character 'A' at position 0 of 'Al'"):
        tok.encode("Al")
    with pytest.raises(ValueError, match="id 27 is outside"):
        tok.decode([1, 27])
    with pytest.raises(ValueError, match="longer than max_length=2"):
        tok.training_pairs(["abc"], max_length=2)
    with pytest.raises(ValueError, match="from_vocab: expected"):
        CharTokenizer.from_vocab([".", "b", "a"])
    assert tok.training_pairs([])[0].shape == (0, 1)


# ----- multinomial -----------------------------------------------------------------------------
def test_multinomial_frequencies_and_distinct_draws():
    g = cr.Generator().manual_seed(0)
    p = cr.tensor([[0.1, 0.0, 0.6, 0.3], [0.0, 0.0, 2.0, 0.0]])
    s = cr.multinomial(p, 200_000, replacement=True, generator=g)
    assert s.shape == (2, 200_000) and s.dtype == np.int64
    np.testing.assert_allclose(np.bincount(s.numpy()[0], minlength=4) / 2e5, [0.1, 0, 0.6, 0.3],
                               atol=0.005)  # fmt: skip
    assert (s.numpy()[1] == 2).all()
    d = cr.multinomial(cr.tensor([1.0, 2.0, 3.0, 0.0]), 3, generator=g)
    assert sorted(d.tolist()) == [0, 1, 2]
    # without replacement, the first draw follows the weights; the second the rest renormalised
    first = cr.multinomial(cr.tensor([[1.0, 3.0]] * 40_000), 2, generator=g).numpy()
    assert abs((first[:, 0] == 1).mean() - 0.75) < 0.01 and (first[:, 0] != first[:, 1]).all()
    # a zero weight is drawn last without replacement, as torch does
    assert cr.multinomial(cr.tensor([1.0, 0.0]), 2).tolist() == [0, 1]
    # each refused, as torch refuses it (the messages are checked in test_api_compat.py)
    for bad in [
        (cr.tensor([0.0, 0.0]), 1),
        (cr.tensor([1.0, -1.0]), 1),
        (cr.tensor([1.0, 1.0]), 3),
        (cr.ones(2, 2, 2), 1),
        (cr.tensor([1, 2]), 1),
        (cr.tensor([1.0]), 0),
    ]:
        with pytest.raises((RuntimeError, ValueError, TypeError)):
            cr.multinomial(*bad)
        with pytest.raises((RuntimeError, ValueError, TypeError)):
            torch.multinomial(torch.tensor(bad[0].numpy()), bad[1])


# ----- models against PyTorch --------------------------------------------------------------------
def test_gpt_matches_pytorch_values_and_gradients():
    TorchGPT = _example("char_gpt").TorchGPT
    cr.manual_seed(0)
    m = GPT(27, block_size=12, n_layer=2, n_head=4, n_embd=16)
    tm = TorchGPT(27, 12, 2, 4, 16)
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    assert list(m.state_dict()) == list(tm.state_dict())
    X, Y = CharTokenizer.from_texts(["emma", "olivia", "ava"]).training_pairs(["emma", "olivia"])
    Xl, Yl = X[:, :5], Y[:, :5]  # shorter than the block: the mask is cropped
    loss = lm_loss(m(Xl), Yl)
    loss.backward()
    tl = torch.nn.functional.cross_entropy(tm(torch.from_numpy(Xl.numpy())).reshape(-1, 27),
                                           torch.from_numpy(Yl.numpy()).reshape(-1), ignore_index=-1)  # fmt: skip
    tl.backward()
    assert loss.item() == pytest.approx(tl.item(), rel=1e-6)
    tgrads = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tgrads[name].grad.numpy(), rtol=1e-4,
                                   atol=1e-6, err_msg=name)  # fmt: skip


def test_attention_is_causal():
    cr.manual_seed(1)
    m = GPT(5, block_size=6, n_layer=1, n_head=2, n_embd=8)
    a, b = cr.tensor([[1, 2, 3, 4]]), cr.tensor([[1, 2, 4, 0]])
    with cr.no_grad():
        np.testing.assert_array_equal(m(a)[:, :2].numpy(), m(b)[:, :2].numpy())
        assert not np.allclose(m(a)[:, 2].numpy(), m(b)[:, 2].numpy())
    with pytest.raises(ValueError, match="longer than block_size=6"):
        m(cr.zeros(1, 7, dtype=cr.int64))
    with pytest.raises(ValueError, match="n_embd=10 is not a multiple of n_head=4"):
        GPT(5, n_embd=10, n_head=4)


def test_mlp_is_bengio_contexts():
    """Position t of the MLP sees exactly makemore part 2's context of the 3 previous tokens."""
    cr.manual_seed(0)
    m = MLP(27, block_size=3, n_embd=4, hidden=(16,))
    idx = cr.tensor([[0, 5, 13, 13, 1]])
    contexts = [[0, 0, 0], [0, 0, 5], [0, 5, 13], [5, 13, 13], [13, 13, 1]]
    C = m.wte.weight
    emb = C[cr.tensor(contexts)].view(5, -1)
    h = (emb @ m.hidden[0].weight.T + m.hidden[0].bias).tanh()
    ref = h @ m.lm_head.weight.T + m.lm_head.bias
    np.testing.assert_allclose(m(idx)[0].detach().numpy(), ref.detach().numpy(), rtol=1e-6)


def test_bigram_learns_below_uniform():
    """Uniform is log(27) = 3.30 nats; bigram statistics of these names give about 2.34."""
    words = load_names()
    tok = CharTokenizer.from_texts(words)
    X, Y = tok.training_pairs(words)
    m = Bigram(tok.vocab_size)
    assert evaluate_lm(m, X, Y) == pytest.approx(math.log(27), rel=1e-6)
    fit_lm(m, X, Y, cr.optim.Adam(m.parameters(), lr=0.3), steps=300, batch_size=64,
           generator=cr.Generator().manual_seed(0))  # fmt: skip
    assert evaluate_lm(m, X, Y) < 2.45
    words_out = sample_words(m, tok, 20, generator=cr.Generator().manual_seed(0))
    assert len(words_out) == 20 and all(set(w) <= set(tok.itos[1:]) for w in words_out)


def test_generate_temperature_and_top_k():
    m = Bigram(4)
    with cr.no_grad():
        m.logits.weight.copy_(cr.tensor([[0.0, 5, 4, -5]] * 4))
    g = cr.Generator().manual_seed(0)
    out = generate(m, cr.zeros(200, 1, dtype=cr.int64), 1, top_k=1, generator=g)
    assert (out[:, 1].numpy() == 1).all()
    cold = generate(m, cr.zeros(2000, 1, dtype=cr.int64), 1, temperature=0.1, generator=g)
    assert (cold[:, 1].numpy() == 1).mean() > 0.99
    with pytest.raises(ValueError, match="temperature"):
        generate(m, cr.zeros(1, 1, dtype=cr.int64), 1, temperature=0.0)


def test_build_char_model_round_trips_config():
    from chainrule.models import LSTM

    for m in (Bigram(27), MLP(27, 4, 5, (7, 6)), GPT(27, 8, 1, 2, 8), LSTM(27, 4, 2)):
        assert build_char_model(**m.config).config == m.config
    with pytest.raises(ValueError, match="unknown character model 'rnn'"):
        build_char_model("rnn", vocab_size=3)


# ----- the command line ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model, extra",
    [
        ("bigram", ["--steps", "30"]),
        ("mlp", ["--steps", "30", "--block-size", "4", "--n-embd", "6", "--hidden", "32"]),
        ("gpt", ["--steps", "4", "--n-layer", "1", "--n-head", "2", "--n-embd", "8"]),
        ("lstm", ["--steps", "10", "--n-embd", "8", "--n-layer", "2"]),
    ],
)
def test_train_names_then_sample(model, extra, tmp_path, capsys):
    status = main(["train", "--dataset", "names", "--model", model, *extra, "--out",
                   str(tmp_path), "--name", "run", "--quiet"])  # fmt: skip
    assert status == 0
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["config"]["kind"] == model and metrics["val_loss"] < 3.5
    assert (run / "curves.png").stat().st_size > 1000 and (run / "samples.txt").exists()
    ckpt = cr.load(run / "model.crt")
    assert ckpt["vocab"] == CharTokenizer.from_texts(load_names()).itos
    assert build_char_model(**ckpt["config"]).config == metrics["config"]
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run / "model.crt"), "--num", "7",
                 "--temperature", "0.8", "--seed", "3"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and all(set(w) <= set("abcdefghijklmnopqrstuvwxyz") for w in lines)
    main(["sample", "--checkpoint", str(run / "model.crt"), "--num", "7", "--temperature",
          "0.8", "--seed", "3"])  # fmt: skip
    assert capsys.readouterr().out.splitlines() == lines  # the seed fixes the samples


def test_bigram_cli_loss_below_uniform(tmp_path):
    main(["train", "--dataset", "names", "--model", "bigram", "--out", str(tmp_path),
          "--name", "b", "--quiet"])  # fmt: skip
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["train_loss"] < 2.45 and metrics["val_loss"] < 2.6  # uniform: 3.30
    assert metrics["steps"] == 500


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--dataset", "digits", "--model", "gpt"], "--model gpt is a character model"),
        (["train", "--dataset", "names", "--model", "cnn"], "--model cnn is a classifier"),
        (["train", "--dataset", "moons", "--steps", "5"], "--steps: only for --dataset names"),
        (
            ["train", "--dataset", "names", "--model", "gpt", "--n-embd", "30"],
            "--n-embd 30 must be a multiple of --n-head 4",
        ),
        (
            ["train", "--dataset", "names", "--model", "bigram", "--n-embd", "3"],
            "the bigram model has no such setting",
        ),
        (["train", "--dataset", "names", "--schedule", "plateau"], "per-epoch schedule"),
        (["train", "--dataset", "names", "--epochs", "1", "--steps", "3"], "give one"),
        (
            ["train", "--dataset", "names", "--model", "gpt", "--hidden", "3"],
            "only for --model mlp",
        ),
        (["train", "--dataset", "names", "--block-size", "0"], "expected a positive integer"),
        (
            ["train", "--dataset", "names", "--model", "lstm", "--n-head", "2"],
            "an LSTM has no heads",
        ),
        (["sample", "--checkpoint", "/nonexistent/model.crt"], "--checkpoint: no such file"),
        (["sample", "--checkpoint", "x", "--temperature", "0"], "expected a finite positive"),
        (["sample", "--checkpoint", "x", "--num", "-2"], "expected a positive integer"),
        (["sample"], "the following arguments are required: --checkpoint"),
    ],
)
def test_bad_options_give_one_clear_line(argv, message, tmp_path):
    if argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path)]
    proc = subprocess.run([sys.executable, "-m", "chainrule.cli", *argv], capture_output=True,
                          text=True, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "error" in line]) == 1


def test_sample_refuses_a_classifier_checkpoint(tmp_path):
    main(["train", "--dataset", "moons", "--model", "logreg", "--epochs", "1", "--no-progress",
          "--quiet", "--out", str(tmp_path), "--name", "c"])  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "chainrule.cli", "sample", "--checkpoint",
                           str(tmp_path / "c" / "model.crt")], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "holds no character model" in proc.stderr


def test_lstm_without_nn_lstm_says_so(tmp_path):
    if hasattr(cr.nn, "LSTM"):
        pytest.skip("chainrule.nn.LSTM exists here")
    proc = subprocess.run([sys.executable, "-m", "chainrule.cli", "train", "--dataset", "names",
                           "--model", "lstm", "--out", str(tmp_path)], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "needs chainrule.nn.LSTM" in proc.stderr


def test_lstm_model_matches_pytorch():
    from chainrule.models import LSTM

    cr.manual_seed(0)
    m = LSTM(27, n_embd=8, n_layer=2)
    emb, lstm, head = (
        torch.nn.Embedding(27, 8),
        torch.nn.LSTM(8, 8, 2, batch_first=True),
        torch.nn.Linear(8, 27),
    )
    tm = torch.nn.ModuleDict({"wte": emb, "lstm": lstm, "lm_head": head})
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    X, Y = CharTokenizer("abcdefghijklmnopqrstuvwxyz").training_pairs(["emma", "olivia"])
    loss = lm_loss(m(X), Y)
    loss.backward()
    tlogits = head(lstm(emb(torch.from_numpy(X.numpy())))[0])
    tl = torch.nn.functional.cross_entropy(
        tlogits.reshape(-1, 27), torch.from_numpy(Y.numpy()).reshape(-1), ignore_index=-1
    )
    tl.backward()
    assert loss.item() == pytest.approx(tl.item(), rel=1e-6)
    tgrads = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(
            p.grad.numpy(), tgrads[name].grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name
        )


# ----- safetensors: weights across to PyTorch and back -----------------------------------------
def _torch_mlp():
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def _cr_mlp():
    return cr.nn.Sequential(cr.nn.Linear(6, 8), cr.nn.ReLU(), cr.nn.Linear(8, 3))


def _torch_conv():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 5),
    )  # fmt: skip


def _cr_conv():
    return cr.nn.Sequential(
        cr.nn.Conv2d(1, 4, 3, padding=1), cr.nn.BatchNorm2d(4), cr.nn.ReLU(),
        cr.nn.MaxPool2d(2), cr.nn.Flatten(), cr.nn.Linear(4 * 4 * 4, 5),
    )  # fmt: skip


@pytest.mark.parametrize("make, shape", [((_torch_mlp, _cr_mlp), (5, 6)),
                                         ((_torch_conv, _cr_conv), (2, 1, 8, 8))])  # fmt: skip
def test_pytorch_state_dict_loads_into_chainrule_and_back(make, shape, tmp_path):
    make_torch, make_cr = make
    torch.manual_seed(0)
    tm = make_torch()
    tm.train()
    tm(torch.randn(*shape))  # BatchNorm running stats away from their start, num_batches 1
    tm.eval()
    path = tmp_path / "torch.safetensors"
    safetensors.torch.save_file(tm.state_dict(), path, metadata={"from": "torch"})
    m = make_cr()
    result = m.load_state_dict(load_file(path))
    assert not result.missing_keys and not result.unexpected_keys
    m.eval()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(m(cr.tensor(x)).detach().numpy(), want, rtol=1e-5, atol=1e-6)
    assert load_metadata(path) == {"from": "torch"}

    # and back: chainrule weights (changed) -> file -> PyTorch
    with cr.no_grad():
        for p in m.parameters():
            p.mul_(-0.5)
    back = tmp_path / "cr.safetensors"
    save_file(m.state_dict(), back)
    tm2 = make_torch()
    tm2.load_state_dict(safetensors.torch.load_file(back))
    tm2.eval()
    with torch.no_grad():
        got = tm2(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, m(cr.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    sd = safetensors.torch.load_file(back)
    for k, v in m.state_dict().items():  # dtypes survive: float32 weights, int64 batch count
        assert str(sd[k].dtype).removeprefix("torch.") == str(v.dtype)


def test_safetensors_dtypes_bfloat16_and_errors(tmp_path):
    values = {"f64": cr.tensor([1.5], dtype=cr.float64), "f16": cr.tensor([0.5], dtype=cr.float16),
              "i32": cr.tensor([3], dtype=cr.int32), "b": cr.tensor([True, False]),
              "scalar": cr.tensor(2.0), "empty": cr.zeros(0, 3),
              "noncontig": cr.arange(6.0).reshape(2, 3).T}  # fmt: skip
    for got in (load(save(values)), _roundtrip(values, tmp_path / "d.safetensors")):
        for k, v in values.items():
            assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
            np.testing.assert_array_equal(got[k].numpy(), v.numpy())
    # bfloat16 from PyTorch: widened to float32, exactly
    bf = torch.tensor([1.0, -2.5, 3.140625, 1e30, float("inf")], dtype=torch.bfloat16)
    p = tmp_path / "bf16.safetensors"
    safetensors.torch.save_file({"w": bf, "x": torch.ones(2)}, p)
    w = load_file(p)["w"]
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w.numpy(), bf.float().numpy())
    p8 = tmp_path / "f8.safetensors"
    safetensors.torch.save_file({"w": torch.ones(2).to(torch.float8_e4m3fn)}, p8)
    with pytest.raises(TypeError, match="dtype F8_E4M3.*cannot represent"):
        load_file(p8)
    with pytest.raises(TypeError, match="'w' is a ndarray, expected a chainrule Tensor"):
        save_file({"w": np.ones(2)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="expected a dict"):
        save([cr.ones(1)])
    with pytest.raises(TypeError, match="metadata must be a dict of str -> str"):
        save({"w": cr.ones(1)}, metadata={"n": 1})
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_file(tmp_path / "missing.safetensors")


def _roundtrip(values, path):
    save_file(values, path)
    return load_file(path)


def test_gpt_weights_cross_through_safetensors(tmp_path):
    """chainrule GPT -> safetensors -> PyTorch GPT: the same logits."""
    TorchGPT = _example("char_gpt").TorchGPT
    cr.manual_seed(3)
    m = GPT(27, block_size=8, n_layer=2, n_head=2, n_embd=8)
    save_file(m.state_dict(), tmp_path / "gpt.safetensors")
    tm = TorchGPT(27, 8, 2, 2, 8)
    tm.load_state_dict(safetensors.torch.load_file(tmp_path / "gpt.safetensors"))
    idx = np.array([[0, 3, 9, 1, 20]])
    with torch.no_grad():
        want = tm(torch.from_numpy(idx)).numpy()
    np.testing.assert_allclose(m(cr.tensor(idx)).detach().numpy(), want, rtol=1e-5, atol=1e-6)


# ----- the examples ----------------------------------------------------------------------------
def test_example_makemore_bigram():
    r = _example("makemore_bigram").main(steps=100, verbose=False)
    assert r["n_words"] == 5163 and r["n_bigrams"] == 5163 + sum(map(len, load_names()))
    assert int(r["counts"].sum()) == r["n_bigrams"]
    assert 2.3 < r["counts_nll"] < 2.4  # the best a bigram does here (+1 smoothing)
    assert r["neural_nll"] < r["counts_nll"] + 0.05 and r["losses"][-1] < r["losses"][0] - 1


def test_example_makemore_mlp():
    r = _example("makemore_mlp").main(steps=2000, verbose=False)
    assert r["dev"] < 2.3 and r["train"] < 2.3  # better than any bigram (2.34)


def test_example_microgpt_scalar_vs_tensor():
    r = _example("microgpt_scalar_vs_tensor").main(scalar_steps=2, tensor_steps=30,
                                                  verbose=False)  # fmt: skip
    assert r["scalar_loss"] == pytest.approx(r["tensor_loss"], rel=1e-12)
    assert r["grad_diff"] < 1e-12
    assert r["tensor_losses"][-1] < r["tensor_losses"][0]


def test_example_char_gpt_agrees_with_pytorch(tmp_path):
    r = _example("char_gpt").main(steps=25, n_layer=1, n_embd=16, out_dir=tmp_path, verbose=False)
    np.testing.assert_allclose(r["losses"], r["torch_losses"], rtol=1e-5)
    assert r["val_loss"] == pytest.approx(r["val_loss_torch_weights"], rel=1e-4)
    assert r["losses"][-1] < r["losses"][0] - 0.5
