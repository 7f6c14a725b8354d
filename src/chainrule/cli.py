"""The ``chainrule`` command: ``chainrule demo`` (the main job), ``chainrule train ...`` and
``chainrule sample ...`` (words from a character model trained with ``--dataset names``)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DATASETS = (
    "moons", "circles", "spirals", "digits", "breast_cancer", "fashion-mnist", "mnist", "names",
)  # fmt: skip
CLASSIFIERS = ("logreg", "mlp", "cnn")
CHAR_MODELS = ("bigram", "mlp", "lstm", "gpt")  # for --dataset names
# per character model: optimizer steps and learning rate when not given (each run < 1 min)
CHAR_DEFAULTS = {
    "bigram": (500, 0.3),
    "mlp": (3000, 3e-3),
    "lstm": (1500, 3e-3),
    "gpt": (1000, 3e-3),
}
LM_ONLY = ("steps", "block_size", "n_embd", "n_layer", "n_head")  # options for --dataset names
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "cosine", "exponential", "onecycle", "plateau")


class CLIError(Exception):
    """A user-facing problem: printed as one line, exit status 2."""


def load_dataset(name: str, seed: int, limit: int | None = None) -> dict:
    """Train/test tensors for one of :data:`DATASETS`, scaled and split reproducibly.

    Example:
        >>> d = load_dataset("moons", seed=0)
        >>> d["X_train"].shape[1], d["num_classes"]
        (2, 2)
    """
    from . import tensor
    from .data import datasets as ds

    if name in ("fashion-mnist", "mnist"):
        loader = ds.load_fashion_mnist if name == "fashion-mnist" else ds.load_mnist
        Xtr, ytr = loader(train=True)
        Xte, yte = loader(train=False)
        labels = FASHION_LABELS if name == "fashion-mnist" else [str(i) for i in range(10)]
    else:
        if name in ("moons", "circles", "spirals"):
            maker = {"moons": ds.make_moons, "circles": ds.make_circles, "spirals": ds.make_spirals}
            X, y = maker[name](
                n_samples=1000, noise=0.1 if name != "circles" else 0.05, random_state=seed
            )
        elif name == "digits":
            X, y = ds.load_digits()
            X = X.reshape(-1, 1, 8, 8)
        elif name == "breast_cancer":
            X, y = ds.load_breast_cancer()
        else:
            raise CLIError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
        Xtr, Xte, ytr, yte = ds.split_train_test(X, y, test_fraction=0.2, seed=seed, stratify=True)
        if name in ("digits", "breast_cancer"):  # per-feature, fitted on the training split
            # digits pixels run 0..16: eps 1.6 (0.1 of the range) tames near-constant border pixels
            Xtr, Xte = ds.standardize(Xtr, Xte, eps=1.6 if name == "digits" else 0.0)
        labels = [str(i) for i in range(int(y.max().item()) + 1)]
    if limit is not None:
        Xtr, ytr = Xtr[:limit], ytr[:limit]
        Xte, yte = Xte[: max(limit // 5, 1)], yte[: max(limit // 5, 1)]
    return {
        "X_train": tensor(Xtr, dtype="float32"), "y_train": ytr,
        "X_test": tensor(Xte, dtype="float32"), "y_test": yte,
        "num_classes": len(labels), "labels": labels,
    }  # fmt: skip


FASHION_LABELS = [
    "T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot",
]  # fmt: skip


def make_optimizer(name: str, params: Any, lr: float, momentum: float, weight_decay: float) -> Any:
    """One of :data:`OPTIMIZERS` over ``params``.

    Example:
        >>> import chainrule as cr
        >>> opt = make_optimizer("adam", cr.nn.Linear(2, 2).parameters(), 1e-3, 0.9, 0.0)
        >>> type(opt).__name__
        'Adam'
    """
    from . import optim

    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise CLIError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")


def make_schedule(name: str, optimizer: Any, epochs: int, steps_per_epoch: int, lr: float) -> Any:
    """A learning-rate schedule (seed 001: a larger rate first, smaller toward the end).

    Example:
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD(cr.nn.Linear(2, 2).parameters(), lr=0.1)
        >>> make_schedule("cosine", opt, 10, 5, 0.1).__class__.__name__
        'CosineAnnealingLR'
    """
    from .optim import lr_scheduler

    if name == "none":
        return None
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(epochs // 3, 1), gamma=0.3)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    if name == "onecycle":
        return lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch
        )
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    raise CLIError(f"unknown schedule {name!r}: choose one of {', '.join(SCHEDULES)}")


def run_training(args: argparse.Namespace) -> dict:
    """Train as ``args`` says, write the run folder, print the summary; return the metrics.

    The run folder ``<out>/<name>/`` gets ``metrics.json``, ``curves.png``, ``model.crt`` (a
    checkpoint of the model and optimizer), ``neuron.svg``/``neuron.png``/``neuron.dot``:
    one neuron's computational graph with its values and gradients, ``backward.gif``: its
    backward pass step by step, and ``explore.html``: the loss on one test sample, to step
    through forward and backward (``chainrule.viz.explore``).
    """
    from . import manual_seed, nn, save
    from .data import DataLoader, DistributedSampler, Generator, TensorDataset
    from .train import build_model, confusion_matrix, evaluate, fit, format_confusion_matrix
    from .train.plots import plot_history

    if args.dataset == "names":
        return run_lm_training(args)
    given = [f"--{k.replace('_', '-')}" for k in LM_ONLY if getattr(args, k, None) is not None]
    if given:
        raise CLIError(f"{', '.join(given)}: only for --dataset names (character models)")
    if args.model not in CLASSIFIERS:
        raise CLIError(
            f"--model {args.model} is a character model for --dataset names; for "
            f"{args.dataset} choose one of {', '.join(CLASSIFIERS)}"
        )
    rank, world = start_distributed()
    lead = rank == 0  # rank 0 alone prints and writes the run folder
    say = print if lead else _silent
    out = Path(args.out) / (args.name or f"{args.dataset}-{args.model}")
    if lead:
        _check_run_folder(out)  # before any training: a bad --out must not cost a whole run
    args.epochs = 20 if args.epochs is None else args.epochs
    args.lr = 1e-3 if args.lr is None else args.lr
    raw = (128, 64) if args.hidden is None else args.hidden
    hidden = raw if isinstance(raw, tuple) else _parse_hidden(raw)
    manual_seed(args.seed)
    data = load_dataset(args.dataset, args.seed, args.limit)
    model = build_model(args.model, data["X_train"].shape[1:], data["num_classes"], hidden)
    train_set = TensorDataset(data["X_train"], data["y_train"])
    if world > 1:  # each rank reads its share; the batch size is per rank (as torch)
        from .nn.parallel import DistributedDataParallel

        sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed)
        train_loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)
        trained: Any = DistributedDataParallel(model)  # rank 0's initial weights on every rank
    else:
        train_loader = DataLoader(
            train_set, batch_size=args.batch_size, shuffle=True,
            generator=Generator().manual_seed(args.seed),
        )  # fmt: skip
        trained = model
    test_loader = DataLoader(TensorDataset(data["X_test"], data["y_test"]), batch_size=1024)
    optimizer = make_optimizer(
        args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay
    )
    schedule = make_schedule(args.schedule, optimizer, args.epochs, len(train_loader), args.lr)
    loss_fn = nn.CrossEntropyLoss()
    n_params = sum(p.numel() for p in model.parameters())
    parallel = f", data-parallel over {world} processes (batch {args.batch_size} each)"
    say(
        f"chainrule: {args.model} ({n_params:,} parameters) on {args.dataset}: "
        f"{len(data['y_train'])} train / {len(data['y_test'])} test samples, "
        f"{args.epochs} epochs, {args.optimizer} lr={args.lr}, schedule={args.schedule}"
        + (parallel if world > 1 else "")
    )

    def report(rec: Any) -> None:
        if args.quiet:
            return
        say(
            f"epoch {rec.epoch:3d}  loss {rec.train_loss:.4f}  train acc {rec.train_acc:.4f}  "
            f"test acc {rec.test_acc:.4f}  lr {rec.lr:.4g}  {rec.samples_per_sec:,.0f} samples/s"
        )

    t0 = time.perf_counter()
    history = fit(
        trained, train_loader, optimizer, loss_fn, args.epochs, scheduler=schedule,
        test_loader=test_loader, progress=lead and not args.no_progress, on_epoch=report,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    test_loss, test_acc, pred = evaluate(model, test_loader, loss_fn)
    cm = confusion_matrix(data["y_test"].numpy(), pred, data["num_classes"])
    if not lead:
        return {"test_accuracy": test_acc, "test_loss": test_loss, "train_seconds": seconds}
    print(f"\ntest accuracy {test_acc:.4f} (loss {test_loss:.4f}) after {seconds:.1f} s")
    print("confusion matrix (rows: true class, columns: predicted):")
    print(format_confusion_matrix(cm, [s[:7] for s in data["labels"]]))

    out.mkdir(parents=True, exist_ok=True)
    metrics = {
        "dataset": args.dataset, "model": args.model, "parameters": n_params,
        "epochs": args.epochs, "optimizer": args.optimizer, "lr": args.lr,
        "schedule": args.schedule, "batch_size": args.batch_size, "seed": args.seed,
        "test_accuracy": test_acc, "test_loss": test_loss, "train_seconds": seconds,
        "processes": world, "confusion_matrix": cm.tolist(), **history.to_dict(),
    }  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_history(history, out / "curves.png", f"{args.model} on {args.dataset}")
    save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, out / "model.crt")
    written = ["metrics.json", "curves.png", "model.crt"]
    written += draw_one_neuron(model, data["X_test"][:1], out)
    written += explore_one_sample(model, data["X_test"][:1], data["y_test"][:1], out)
    print(f"wrote {out}/: {', '.join(written)}")
    return metrics


def run_lm_training(args: argparse.Namespace) -> dict:
    """Train a character model (``args.model`` in :data:`CHAR_MODELS`) on the names of
    :func:`chainrule.data.datasets.load_names`, write the run folder, print the summary and a
    few samples; return the metrics.

    The run folder ``<out>/<name>/`` gets ``metrics.json``, ``curves.png`` (loss per step),
    ``samples.txt`` and ``model.crt``: a checkpoint holding the model's ``config``, its
    ``state_dict``, the optimizer's, and the tokenizer's ``vocab``, which is all
    ``chainrule sample --checkpoint`` needs.
    """
    from . import manual_seed, save
    from .data import Generator
    from .data.datasets import load_names, split_train_test
    from .data.text import CharTokenizer
    from .train.lm import evaluate_lm, fit_lm, history_dict, sample_words
    from .train.plots import plot_lm_history

    if args.model not in CHAR_MODELS:
        raise CLIError(
            f"--model {args.model} is a classifier; for --dataset names choose one of "
            f"{', '.join(CHAR_MODELS)}"
        )
    if args.hidden is not None and args.model != "mlp":
        raise CLIError(f"--hidden: only for --model mlp, not {args.model}")
    if args.schedule in ("exponential", "plateau"):
        raise CLIError(
            f"--schedule {args.schedule} is a per-epoch schedule; character models step theirs "
            "every optimizer step: choose none, cosine, step or onecycle"
        )
    if args.epochs is not None and args.steps is not None:
        raise CLIError("--epochs and --steps: give one (an epoch is one pass over the names)")
    out = Path(args.out) / (args.name or f"{args.dataset}-{args.model}")
    _check_run_folder(out)
    words = load_names()
    manual_seed(args.seed)
    tok = CharTokenizer.from_texts(words)
    max_length = max(len(w) for w in words)
    X, Y = tok.training_pairs(words)
    n_val = min(1000, len(words) // 10)  # makemore's hold-out: 10%, at most 1000 words
    Xtr, Xval, Ytr, Yval = split_train_test(X, Y, test_fraction=n_val, seed=args.seed)
    default_steps, default_lr = CHAR_DEFAULTS[args.model]
    steps = args.steps or default_steps
    if args.epochs is not None:
        steps = args.epochs * math.ceil(len(Xtr) / args.batch_size)
    lr = default_lr if args.lr is None else args.lr
    model = _build_char_model(args, tok.vocab_size, max_length + 1)
    optimizer = make_optimizer(
        args.optimizer, model.parameters(), lr, args.momentum, args.weight_decay
    )
    schedule = make_schedule(args.schedule, optimizer, steps, 1, lr)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"chainrule: {args.model} ({n_params:,} parameters) on {args.dataset}: {len(Xtr)} train "
        f"/ {len(Xval)} validation words, vocabulary {tok.vocab_size}, {steps} steps of "
        f"{args.batch_size}, {args.optimizer} lr={lr:g}, schedule={args.schedule}"
    )

    def report(rec: Any) -> None:
        if not args.quiet:
            print(
                f"step {rec.step:5d}  train loss {rec.train_loss:.4f}  val loss "
                f"{rec.val_loss:.4f}  lr {rec.lr:.3g}  {rec.seconds:.1f} s"
            )

    history = fit_lm(
        model, Xtr, Ytr, optimizer, steps, args.batch_size, scheduler=schedule,
        generator=Generator().manual_seed(args.seed), val=(Xval, Yval), on_eval=report,
    )  # fmt: skip
    seconds = history[-1].seconds
    train_loss, val_loss = evaluate_lm(model, Xtr, Ytr), evaluate_lm(model, Xval, Yval)
    samples = sample_words(
        model, tok, 10, max_length=max_length, generator=Generator().manual_seed(args.seed)
    )
    print(f"\ntrain loss {train_loss:.4f}, validation loss {val_loss:.4f} after {seconds:.1f} s")
    print("samples: " + ", ".join(samples))

    out.mkdir(parents=True, exist_ok=True)
    metrics = {
        "dataset": args.dataset, "model": args.model, "config": model.config,
        "parameters": n_params, "steps": steps, "batch_size": args.batch_size,
        "optimizer": args.optimizer, "lr": lr, "schedule": args.schedule, "seed": args.seed,
        "train_loss": train_loss, "val_loss": val_loss, "train_seconds": seconds,
        "samples": samples, **history_dict(history),
    }  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_lm_history(history, out / "curves.png", f"{args.model} on {args.dataset}")
    (out / "samples.txt").write_text("\n".join(samples) + "\n")
    save(
        {
            "kind": "char-lm",
            "config": model.config,
            "vocab": tok.itos,
            "max_length": max_length,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
        },
        out / "model.crt",
    )
    print(f"wrote {out}/: metrics.json, curves.png, samples.txt, model.crt")
    return metrics


def _build_char_model(args: argparse.Namespace, vocab_size: int, longest: int) -> Any:
    """The character model of ``args`` (``longest``: tokens in the longest training row)."""
    from .models import build_char_model

    n_embd = args.n_embd
    if args.model == "bigram":
        extra = [k for k in ("block_size", "n_embd", "n_layer", "n_head") if getattr(args, k)]
        if extra:
            opts = ", ".join(f"--{k.replace('_', '-')}" for k in extra)
            raise CLIError(f"{opts}: the bigram model has no such setting")
        return build_char_model("bigram", vocab_size=vocab_size)
    if args.model == "mlp":
        if args.n_layer or args.n_head:
            raise CLIError("--n-layer, --n-head: for gpt and lstm; the mlp's layers are --hidden")
        hidden = (200,) if args.hidden is None else args.hidden
        hidden = hidden if isinstance(hidden, tuple) else _parse_hidden(hidden)
        return build_char_model(
            "mlp", vocab_size=vocab_size, block_size=args.block_size or 3,
            n_embd=n_embd or 10, hidden=list(hidden),
        )  # fmt: skip
    if args.model == "lstm":
        if args.n_head or args.block_size:
            raise CLIError("--n-head, --block-size: an LSTM has no heads and reads all the past")
        try:
            return build_char_model(
                "lstm", vocab_size=vocab_size, n_embd=n_embd or 64, n_layer=args.n_layer or 1
            )
        except ImportError as e:
            raise CLIError(f"--model lstm: {e}") from None
    block = args.block_size or longest
    n_embd, n_head = n_embd or 64, args.n_head or 4
    if n_embd % n_head:
        raise CLIError(f"--n-embd {n_embd} must be a multiple of --n-head {n_head}")
    if block < longest:
        print(f"note: --block-size {block}: names are cut to their first {block} tokens' context")
    return build_char_model(
        "gpt", vocab_size=vocab_size, block_size=block, n_layer=args.n_layer or 2,
        n_head=n_head, n_embd=n_embd,
    )  # fmt: skip


def run_sampling(args: argparse.Namespace) -> list[str]:
    """Print ``args.num`` words sampled from the character model in ``args.checkpoint``.

    Example:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> main(["train", "--dataset", "names", "--model", "bigram", "--steps", "20",
        ...       "--quiet", "--out", out, "--name", "b"])  # doctest: +ELLIPSIS
        chainrule: bigram (729 parameters) on names...
        0
        >>> words = run_sampling(argparse.Namespace(checkpoint=f"{out}/b/model.crt", num=3,
        ...                      temperature=1.0, top_k=None, seed=0))
        mamusa
        ernn
        ari
    """
    from . import load
    from .data import Generator
    from .data.text import CharTokenizer
    from .models import build_char_model
    from .train.lm import sample_words

    path = Path(args.checkpoint)
    if not path.is_file():
        raise CLIError(f"--checkpoint: no such file: {path}")
    try:
        ckpt = load(path)
    except ValueError as e:
        raise CLIError(f"--checkpoint: {path} is not a chainrule checkpoint ({e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("kind") != "char-lm":
        raise CLIError(
            f"--checkpoint: {path} holds no character model (train one with "
            "chainrule train --dataset names --model {bigram,mlp,lstm,gpt})"
        )
    try:
        model = build_char_model(**ckpt["config"])
    except ImportError as e:
        raise CLIError(f"--checkpoint: {e}") from None
    model.load_state_dict(ckpt["model"])
    tok = CharTokenizer.from_vocab(ckpt["vocab"])
    words = sample_words(
        model, tok, args.num, temperature=args.temperature, top_k=args.top_k,
        max_length=int(ckpt.get("max_length", 32)), generator=Generator().manual_seed(args.seed),
    )  # fmt: skip
    for w in words:
        print(w)
    return words


def start_distributed() -> tuple[int, int]:
    """``(rank, world_size)``: when an MPI launcher started this process among several
    (``mpiexec -n 2 chainrule train ...``), join the process group and train data-parallel;
    otherwise ``(0, 1)``, and MPI is not touched.

    Example:
        >>> start_distributed()  # not under mpiexec
        (0, 1)
    """
    from . import distributed as dist

    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if dist.launched_world_size() <= 1:
        return 0, 1
    if not dist.is_available():
        raise CLIError(
            f"started by an MPI launcher with {dist.launched_world_size()} processes, but "
            f"mpi4py is missing: {dist.INSTALL_HINT}"
        )
    dist.init_process_group("mpi")
    return dist.get_rank(), dist.get_world_size()


def _silent(*args: Any, **kwargs: Any) -> None:
    """``print`` on ranks other than 0: nothing."""


def _check_run_folder(out: Path) -> None:
    """Raise :class:`CLIError` unless the run folder ``out`` can be created (or exists) and
    written to: checked before training, so a bad ``--out`` fails at once, in one line.

    Example:
        >>> import tempfile
        >>> _check_run_folder(Path(tempfile.mkdtemp()) / "run")  # fine: nothing raised
    """
    where = out
    while not where.exists() and where != where.parent:  # the nearest part that exists
        where = where.parent
    if where.exists() and not where.is_dir():
        raise CLIError(
            f"--out: {where} exists and is not a folder, so the run folder {out} cannot be made"
        )
    try:  # a probe folder, removed at once: the real test of "can the run folder be made here"
        os.rmdir(tempfile.mkdtemp(prefix=".chainrule-probe-", dir=where))
    except OSError as e:
        raise CLIError(
            f"--out: cannot make the run folder {out} in {where} ({e.strerror or e})"
        ) from None


def draw_one_neuron(model: Any, x: Any, out: Path) -> list[str]:
    """Draw neuron 0 of the model's first linear layer on one sample, with values and gradients.

    Returns the names of the files written: ``neuron.dot`` always; ``neuron.svg``,
    ``neuron.png`` and ``backward.gif`` (its backward pass, one frame per chain-rule step) where
    a renderer is there (Graphviz's ``dot``, or the ``graphviz-pure`` that the ``viz`` extra
    installs).
    """
    from . import nn, relu, tensor

    first = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        return []
    try:
        from .viz import draw_graph, render
    except ImportError:
        return []
    w = tensor(first.weight.detach().numpy()[0], requires_grad=True)
    b = tensor(first.bias.detach().numpy()[0], requires_grad=True)
    xs = tensor(x.detach().numpy().reshape(-1))
    if xs.shape[0] != w.shape[0]:
        return []
    y = relu(xs @ w + b)
    y.backward(retain_graph=True)  # keep the graph so it can be drawn with its gradients
    names = {"x": xs, "w (layer 0, neuron 0)": w, "b": b}
    g = draw_graph(y, params=names)
    (out / "neuron.dot").write_text(g.source)
    written = ["neuron.dot"]
    for fmt in ("svg", "png"):
        try:
            render(g, out / f"neuron.{fmt}", fmt)
            written.append(f"neuron.{fmt}")
        except RuntimeError as e:
            print(f"note: {e}", file=sys.stderr)
            return written
    try:
        from .viz import animate

        animate(y, out / "backward.gif", params=names)
        written.append("backward.gif")
    except (ImportError, RuntimeError) as e:
        print(f"note: no backward.gif ({e})", file=sys.stderr)
    return written


def explore_one_sample(model: Any, x: Any, y: Any, out: Path) -> list[str]:
    """Write ``explore.html``: the trained model's loss on one test sample, to step through
    forward and backward in a browser (each layer a box that opens on a click).

    Returns the names of the files written (none where the graph cannot be explored).

    Example:
        >>> import tempfile
        >>> from chainrule import nn, tensor
        >>> m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> explore_one_sample(m, tensor([[0.5, -1.0]]), tensor([1]), Path(tempfile.mkdtemp()))
        ['explore.html']
    """
    from . import nn
    from .viz import explore

    loss = nn.functional.cross_entropy(model(x), y)
    try:
        explore(
            loss, out / "explore.html", params=model, collapse=True,
            title=f"One test sample through the trained {type(model).__name__}: loss "
            f"{loss.item():.4g}",
        )  # fmt: skip
    except (ValueError, NotImplementedError) as e:  # too large, or an op explain cannot show
        print(f"note: explore.html not written ({e})", file=sys.stderr)
        return []
    return ["explore.html"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chainrule",
        description="Train neural networks with chainrule, a backprop library you can see.",
    )
    sub = p.add_subparsers(dest="command", metavar="{demo,train,sample}")
    demo = sub.add_parser("demo", help="the main job: an MLP on scikit-learn's digits (about 30 s)")
    demo.add_argument("--out", default="runs", help="folder for the run's outputs (default: runs)")
    demo.add_argument(
        "--epochs", type=_positive_int, default=30, help="training epochs (default: 30)"
    )
    demo.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default: 0)")
    demo.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    train = sub.add_parser("train", help="train a model on a dataset")
    train.add_argument(
        "--dataset", choices=DATASETS, default="digits", help="the data (default: digits)"
    )
    train.add_argument(
        "--model",
        choices=("logreg", "mlp", "cnn", "bigram", "lstm", "gpt"),
        default="mlp",
        help="the model (default: mlp): logreg, mlp, cnn classify; with --dataset names, "
        "bigram, mlp, lstm and gpt are character-level language models",
    )
    train.add_argument(
        "--hidden",
        type=_hidden_sizes,
        default=None,
        help="MLP hidden widths, comma-separated positive integers (default: 128,64; 200 for "
        "the names mlp)",
    )
    train.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="training epochs (default: 20; with --dataset names, --steps is the default)",
    )
    lm = train.add_argument_group("character models (--dataset names)")
    lm.add_argument(
        "--steps",
        type=_positive_int,
        default=None,
        help="optimizer steps (default: bigram 500, mlp 3000, lstm 1500, gpt 1000)",
    )
    lm.add_argument(
        "--block-size",
        type=_positive_int,
        default=None,
        help="context length in characters (default: mlp 3, gpt the longest name + 1)",
    )
    lm.add_argument(
        "--n-embd",
        type=_positive_int,
        default=None,
        help="embedding size (default: mlp 10, lstm and gpt 64)",
    )
    lm.add_argument(
        "--n-layer", type=_positive_int, default=None, help="layers (default: gpt 2, lstm 1)"
    )
    lm.add_argument(
        "--n-head", type=_positive_int, default=None, help="attention heads (default: gpt 4)"
    )
    train.add_argument(
        "--batch-size", type=_positive_int, default=64, help="batch size (default: 64)"
    )
    train.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        help="learning rate (default: 1e-3; for names: bigram 0.3, mlp, lstm and gpt 3e-3)",
    )
    train.add_argument(
        "--optimizer", choices=OPTIMIZERS, default="adam", help="optimizer (default: adam)"
    )
    train.add_argument(
        "--momentum",
        type=_non_negative_float,
        default=0.9,
        help="momentum for sgd/rmsprop (default: 0.9)",
    )
    train.add_argument(
        "--weight-decay", type=_non_negative_float, default=0.0, help="L2 weight decay (default: 0)"
    )
    train.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="cosine",
        help="learning-rate schedule (default: cosine)",
    )
    train.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default: 0)")
    train.add_argument(
        "--limit", type=_positive_int, default=None, help="use only the first N training samples"
    )
    train.add_argument("--out", default="runs", help="folder for run outputs (default: runs)")
    train.add_argument(
        "--name", type=_run_name, default=None, help="run name (default: DATASET-MODEL)"
    )
    train.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    sample = sub.add_parser("sample", help="print words sampled from a trained character model")
    sample.add_argument(
        "--checkpoint", required=True, help="model.crt of a chainrule train --dataset names run"
    )
    sample.add_argument(
        "--num", type=_positive_int, default=20, help="how many words (default: 20)"
    )
    sample.add_argument(
        "--temperature",
        type=_positive_float,
        default=1.0,
        help="divide the logits by this: below 1 is safer, above 1 wilder (default: 1.0)",
    )
    sample.add_argument(
        "--top-k", type=_positive_int, default=None, help="sample only the k likeliest characters"
    )
    sample.add_argument(
        "--seed", type=_non_negative_int, default=0, help="random seed (default: 0)"
    )
    return p


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s}")
    return v


def _non_negative_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {s}")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {s}")
    return v


def _non_negative_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {s!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite non-negative number, got {s}")
    return v


def _hidden_sizes(s: str) -> tuple[int, ...]:
    """``"128,64"`` -> ``(128, 64)``: at least one width, each a positive integer."""
    parts = s.split(",")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if not sizes or any(v <= 0 for v in sizes):
        hint = " (an MLP needs at least one hidden layer; --model logreg has none)"
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 128,64, got {s!r}"
            + (hint if not s.strip() else "")
        )
    return sizes


def _parse_hidden(s: str) -> tuple[int, ...]:
    """:func:`_hidden_sizes` for a hand-built namespace, failing as a :class:`CLIError`."""
    try:
        return _hidden_sizes(s)
    except argparse.ArgumentTypeError as e:
        raise CLIError(f"--hidden: {e}") from None


def _run_name(s: str) -> str:
    """A run folder name: one path component, not ``.`` or ``..``."""
    seps = "/" + os.sep + (os.altsep or "")
    if s in (".", "..") or any(c in s for c in seps):
        raise argparse.ArgumentTypeError(
            f"expected a plain folder name (no path separators, not '.' or '..'), got {s!r}"
        )
    return s


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``chainrule`` console script.

    Example:
        >>> import tempfile
        >>> main(["train", "--dataset", "moons", "--model", "logreg", "--epochs", "1",
        ...       "--no-progress", "--quiet", "--out", tempfile.mkdtemp()])  # doctest: +ELLIPSIS
        chainrule: logreg (6 parameters) on moons...
        0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "demo":
        args = argparse.Namespace(
            dataset="digits", model="mlp", hidden="256,128", epochs=args.epochs, batch_size=32,
            lr=1e-3, optimizer="adamw", momentum=0.9, weight_decay=1e-2, schedule="cosine",
            seed=args.seed, limit=None, out=args.out, name="demo", no_progress=args.no_progress,
            quiet=False, command="demo",
        )  # fmt: skip
    try:
        if args.command == "sample":
            run_sampling(args)
        else:
            run_training(args)
    except CLIError as e:
        return _fail(e, 2)
    except (OSError, ImportError, ValueError) as e:
        return _fail(e, 1)
    return 0


def _fail(e: Exception, status: int) -> int:
    """Print the error in one line; under MPI, name the rank and end every rank (the others
    would wait for this one forever)."""
    from . import distributed as dist

    if dist.is_initialized() and dist.get_world_size() > 1:
        r, n = dist.get_rank(), dist.get_world_size()
        print(f"chainrule: error (rank {r} of {n}): {e}", file=sys.stderr, flush=True)
        dist._abort(status)
    print(f"chainrule: error: {e}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
