import pytest
from typer.testing import CliRunner

from mtts.cli import app

runner = CliRunner()
COMMANDS = ["prepare", "tokenize", "train", "plot", "evaluate", "compare", "select-best", "synthesize", "serve"]


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
    bad = tmp_path / "step_0000010.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    res = runner.invoke(app, ["synthesize", "-m", str(bad), "-t", "hello"])
    assert res.exit_code == 1 and "unreadable" in res.output and "Traceback" not in res.output


def test_an_override_is_checked_like_the_same_value_in_yaml(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mtl:\n  method: magic\n")
    from_yaml = runner.invoke(app, ["train", "-c", str(cfg), "--exp-dir", str(tmp_path / "a")])
    from_option = runner.invoke(app, ["train", "--mtl-method", "magic", "--exp-dir", str(tmp_path / "b")])
    assert from_yaml.exit_code == from_option.exit_code == 1
    message = from_option.output.strip()
    assert message.startswith("error: unknown mtl.method 'magic' (known: static, ") and "\n" not in message
    assert from_yaml.output.strip() == message.replace("error: ", f"error: {cfg}: ", 1)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_overrides_are_set_in_the_yaml_before_it_is_checked(tmp_path):
    from mtts.config import TrainConfig
    from mtts.validate import load_config
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  seed: 1\nmtl:\n  method: magic\n")
    c = load_config(cfg, {"train.seed": 7, "train.max_steps": None, "mtl.method": "dwa"})
    assert (c.train.seed, c.train.max_steps, c.mtl.method) == (7, TrainConfig().max_steps, "dwa")
    cfg.write_text("train:\n")
    assert load_config(cfg, {"train.max_minutes": 2.5}).train.max_minutes == 2.5
