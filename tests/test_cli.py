"""The ``chainrule`` command: runs, writes its run folder, and fails in one clear line."""

import json
import subprocess
import sys

import pytest

from chainrule.cli import main


def test_train_writes_run_folder(tmp_path, capsys):
    status = main([
        "train", "--dataset", "digits", "--model", "mlp", "--epochs", "5", "--no-progress",
        "--out", str(tmp_path), "--name", "t", "--hidden", "64", "--lr", "3e-3",
    ])  # fmt: skip
    assert status == 0
    run = tmp_path / "t"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.8
    assert len(metrics["epochs"]) == 5
    assert (run / "curves.png").stat().st_size > 1000
    assert (run / "model.crt").exists()
    assert (run / "neuron.dot").exists()
    out = capsys.readouterr().out
    assert "confusion matrix" in out and "test accuracy" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--dataset", "nope"], "invalid choice: 'nope'"),
        (["train", "--epochs", "0"], "expected a positive integer"),
        (["train", "--lr", "abc"], "expected a positive number"),
        (["train", "--dataset", "moons", "--model", "cnn", "--epochs", "1"], "needs image inputs"),
        (["train", "--lr", "inf"], "argument --lr: expected a finite positive number"),
        (["train", "--lr", "nan"], "argument --lr: expected a finite positive number"),
        (["train", "--momentum", "inf"], "argument --momentum: expected a finite non-negative"),
        (["train", "--weight-decay", "-1"], "argument --weight-decay: expected a finite non-neg"),
        (["train", "--hidden", "0"], "argument --hidden: expected comma-separated positive"),
        (["train", "--hidden", "-3"], "argument --hidden: expected comma-separated positive"),
        (["train", "--hidden", "a,b"], "argument --hidden: expected comma-separated positive"),
        (["train", "--hidden", ""], "an MLP needs at least one hidden layer"),
        (["train", "--name", "../up"], "argument --name: expected a plain folder name"),
        (["train", "--name", "a/b"], "argument --name: expected a plain folder name"),
        (["train", "--name", ".."], "argument --name: expected a plain folder name"),
        (["train", "--seed", "-1"], "argument --seed: expected a non-negative integer"),
        (["demo", "--seed", "-1"], "argument --seed: expected a non-negative integer"),
    ],
)
def test_bad_options_give_one_clear_line(argv, message, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule.cli", *argv, "--out", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_data_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule.cli", "train", "--dataset", "mnist", "--out", str(tmp_path)],
        capture_output=True, text=True, env={"CHAINRULE_DATA": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "CHAINRULE_DATA" in proc.stderr


def test_help_documents_every_option():
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule.cli", "train", "--help"], capture_output=True, text=True
    )
    for opt in ("--dataset", "--model", "--epochs", "--batch-size", "--lr", "--optimizer",
                "--schedule", "--seed", "--out"):  # fmt: skip
        assert opt in proc.stdout


@pytest.mark.parametrize("where", ["file", "below-file"])
def test_unusable_out_fails_before_training(where, tmp_path):
    """An --out that cannot hold the run folder is one line at once, not a traceback after."""
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    out = blocker if where == "file" else blocker / "deeper"
    proc = subprocess.run(
        [sys.executable, "-m", "chainrule.cli", "train", "--dataset", "moons", "--model", "logreg",
         "--epochs", "1", "--no-progress", "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"chainrule: error: --out: {blocker} exists and is not a folder, so the run folder "
        f"{out / 'moons-logreg'} cannot be made"
    ]
    assert proc.stdout == ""  # no training happened
    assert blocker.read_text() == "not a folder"


def test_demo_runs_end_to_end(tmp_path, capsys):
    from chainrule.cli import main

    assert main(["demo", "--epochs", "1", "--no-progress", "--out", str(tmp_path)]) == 0
    run = tmp_path / "demo"
    assert (run / "metrics.json").exists() and (run / "model.crt").exists()
    assert (run / "neuron.svg").exists() or (run / "neuron.dot").exists()
    assert "test accuracy" in capsys.readouterr().out.lower()
