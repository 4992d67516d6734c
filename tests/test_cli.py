import pytest
from typer.testing import CliRunner

from mtts.cli import app

runner = CliRunner()
COMMANDS = ["prepare", "tokenize", "train", "plot", "evaluate", "compare", "select-best", "synthesize"]


@pytest.mark.parametrize("cmd", [[]] + [[c] for c in COMMANDS])
def test_help(cmd):
    res = runner.invoke(app, cmd + ["--help"])
    assert res.exit_code == 0 and "Usage" in res.output


@pytest.mark.parametrize("args,match", [
    (["prepare", "/nonexistent/corpus"], "metadata.csv does not exist"),
    (["tokenize", "--data-dir", "/nonexistent"], "does not exist: run `mtts prepare` first"),
    (["train", "--config", "/nonexistent.yaml"], "config /nonexistent.yaml does not exist"),
    (["synthesize", "-m", "/nonexistent.pt", "-t", "hi"], "does not exist"),
    (["synthesize", "-m", "x.pt"], "exactly one of --text or --text-file"),
    (["evaluate", "--exp-dir", "/nonexistent"], "none in /nonexistent/checkpoints"),
    (["select-best", "--exp-dir", "/nonexistent"], "summary.json does not exist"),
    (["plot", "/nonexistent"], "metrics.jsonl does not exist"),
    (["compare", "/nonexistent"], "summary.json does not exist"),
])
def test_errors_are_one_line_without_traceback(args, match):
    res = runner.invoke(app, args)
    assert res.exit_code == 1
    assert "Traceback" not in res.output and match in res.output.replace("\n", " ")
    assert res.output.strip().startswith("error:")


def test_bad_config_names_file_and_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  max_stepz: 3\n")
    res = runner.invoke(app, ["train", "-c", str(cfg)])
    assert res.exit_code == 1 and "unknown config key 'train.max_stepz'" in res.output


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "best.safetensors"
    bad.write_bytes(b"PK\x03\x04 truncated")
    res = runner.invoke(app, ["synthesize", "-m", str(bad), "-t", "hello"])
    assert res.exit_code == 1 and "unreadable" in res.output and "Traceback" not in res.output
