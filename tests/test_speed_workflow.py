"""Workflow wiring of the training options: precision is part of the model key and reaches the
train command, compile becomes --compile, a bad precision fails at parse time."""

import re

from workflow_helpers import make_workdir, snakemake


def train_commands(output: str) -> list[str]:
    return [line for line in output.splitlines() if "python -m deblur train" in line]


def test_precision_changes_the_model_key_and_reaches_the_command(tmp_path):
    runs = {}
    for precision in ("fp32", "bf16"):
        (tmp_path / precision).mkdir()
        workdir = make_workdir(tmp_path / precision)
        args = ["-n", "-p", "--config", f"train={{precision: {precision}}}"]
        runs[precision] = train_commands(snakemake(workdir, *args).stdout)
        assert runs[precision], "no training job in the dry run"
    keys = {}
    for precision, commands in runs.items():
        for command in commands:
            assert f"--precision {precision}" in command
            assert "--compile" not in command
            keys[precision] = re.search(r"--out results/models/([^/]+)/", command).group(1)
    assert re.fullmatch(r"[0-9a-f]{12}", keys["fp32"])  # the settings hash, as before
    assert keys["bf16"] == keys["fp32"] + "-bf16"


def test_compile_flag(tmp_path):
    proc = snakemake(make_workdir(tmp_path), "-n", "-p", "--config", "train={compile: true}")
    assert all("--compile" in c for c in train_commands(proc.stdout))


def test_unknown_precision_fails_at_parse_time(tmp_path):
    proc = snakemake(
        make_workdir(tmp_path), "-n", "--config", "train={precision: fp16}", check=False
    )
    assert proc.returncode != 0
    assert "fp16" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()
