"""Smoke runs of the recipes, every stage, as a user runs them (in a copy of recipes/)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from conftest import LJ_MINI, REPO, requires_shared

pytestmark = pytest.mark.slow


def run_recipe(tmp_path: Path, corpus: str, *args: str) -> Path:
    recipes = tmp_path / "recipes"
    if not recipes.is_dir():   # a second call goes on in the same copy (later stages)
        shutil.copytree(REPO / "recipes", recipes, symlinks=True,
                        ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run(["bash", str(recipes / corpus / "run.sh"), *args], env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return recipes / corpus


def check_outputs(root: Path, tag: str, vocoder: str = "vocoder_tiny") -> None:
    exp = root / "exp" / tag
    sel = json.loads((exp / "selection.json").read_text())
    assert sel["metric"] == "mel_l1" and (root / sel["chosen"][0]).is_file()  # relative to the recipe
    assert (exp / "best.safetensors").is_file() and (exp / "config.yaml").is_file()
    y, sr = sf.read(exp / "synth" / "sample.wav")
    assert sr == 22050 and len(y) > sr // 2
    n_test = len((root / "data" / "test" / "text").read_text().splitlines())
    assert len(list((exp / "synth" / "test").glob("*.wav"))) == n_test
    best = json.loads((exp / "eval" / "test" / "best.json").read_text())
    assert best["utterances"] == n_test and "mcd_db" in best["metrics"] and "rtf" in best["metrics"]
    assert (exp / "eval" / "test" / "report.md").is_file()
    # stage 4 trained the vocoder (and, when asked, fine-tuned it with discriminators on the
    # acoustic model's teacher-forced mels); stage 6 shipped it in best.safetensors, stage 8 spoke with it
    assert sel["vocoder"].startswith(f"exp/{vocoder} ") and best["vocoder"] == "neural"
    assert list((root / "exp" / "vocoder_tiny" / "checkpoints").glob("step_*.pt"))
    if vocoder == "vocoder_gan_tiny":
        gan = (root / "exp" / "vocoder_gan_tiny" / "config.yaml").read_text()
        assert "init: exp/vocoder_tiny" in gan and f"gta_model: exp/{tag}" in gan
    return best


@requires_shared
def test_ljspeech_recipe_on_real_ljspeech_files(tmp_path):
    root = run_recipe(tmp_path, "ljspeech", "--db", str(LJ_MINI), "--train-config", "conf/tiny.yaml",
                      "--vocoder-config", "conf/vocoder_tiny.yaml",
                      "--vocoder-finetune-config", "conf/vocoder_gan_tiny.yaml", "--n-dev", "2", "--n-test", "2")
    best = check_outputs(root, "tiny", "vocoder_gan_tiny")
    assert {"wer", "cer", "dnsmos_ovrl"} <= set(best["metrics"])  # the full metric set on real recordings
    assert len((root / "data" / "train" / "wav.scp").read_text().splitlines()) == 28


@pytest.mark.skipif(shutil.which("text2wave") is None,
                    reason="Festival is not installed (apt-get install festival festvox-us-slt-hts sox)")
def test_mini_recipe_fast(tmp_path):
    root = run_recipe(tmp_path, "mini", "--fast", "true", "--stop-stage", "9")
    assert len(list((root / "downloads" / "slt_24" / "wavs").glob("*.wav"))) == 24
    check_outputs(root, "tiny")
    # the teacher read held-out sentences too, and stage 8 scored the model against it on them
    assert len(list((root / "downloads" / "slt_heldout" / "wavs").glob("*.wav"))) == 2
    if importlib.util.find_spec("pocketsphinx"):
        heldout = json.loads((root / "exp" / "tiny" / "eval" / "heldout" / "best.json").read_text())
        assert heldout["utterances"] == 2 and heldout["vs_teacher"]["teacher"]["wer"] >= 0
    # stage 9, the ablation's smoke twin: every cell of conf/ablate_tiny.yaml, a report, nothing in docs/
    results = sorted((root / "exp" / "ablate_tiny" / "results").rglob("*.json"))
    assert [p.parent.name for p in results] == ["pitch_energy", "single"]
    report = (root / "exp" / "ablate_tiny" / "report.md").read_text()
    assert "None: every cell of the plan has a result." in report and "too few seeds" in report
    assert not (tmp_path / "docs").exists()


def voices_missing() -> str | None:
    """Why recipes/mini_multi cannot build its corpus here, or None."""
    if shutil.which("text2wave") is None or shutil.which("flite") is None:
        return "Festival or flite is not installed (make sysdeps)"
    for voice in ("us/cmu_us_slt_arctic_hts", "english/kal_diphone", "english/ked_diphone"):
        if not Path("/usr/share/festival/voices", voice).is_dir():
            return f"Festival voice {voice} is not installed (make sysdeps)"
    return None


@pytest.mark.skipif(voices_missing() is not None, reason=voices_missing() or "")
def test_mini_multi_recipe_fast(tmp_path):
    root = run_recipe(tmp_path, "mini_multi", "--fast", "true")
    meta = (root / "downloads" / "multi_6" / "metadata.csv").read_text().splitlines()
    speakers = sorted({line.split("|")[3] for line in meta})
    assert len(meta) == 24 and speakers == ["awb", "kal", "ked", "slt"]   # rms is held out
    assert len(list((root / "downloads" / "heldout" / "rms" / "wavs").glob("*.wav"))) == 6
    texts = [line.split("|")[1] for line in meta]
    assert len(set(texts)) == len(texts)   # every voice reads its own sentences
    assert (root / "data" / "train" / "spk2id").read_text() == "awb 0\nkal 1\nked 2\nslt 3\n"
    best = check_outputs(root, "tiny")
    assert set(best["per_speaker"]) <= set(speakers) and best["per_speaker"]
    for spk in speakers:
        y, sr = sf.read(root / "exp" / "tiny" / "synth" / f"sample_{spk}.wav")
        assert sr == 22050 and len(y) > sr // 2
    # stage 10: the model adapted to the held-out rms (docs/adaptation.md), frozen encoder
    run_recipe(tmp_path, "mini_multi", "--fast", "true", "--stage", "10", "--stop-stage", "10")
    adapted = root / "exp" / "tiny_adapt_rms"
    init = json.loads((adapted / "init.json").read_text())
    assert init["init_from"] == "exp/tiny/best.safetensors" and init["frozen"] == ["encoder"]
    assert "speaker_embed.weight" in init["not_copied"]   # one new voice: no speaker table
    assert json.loads((adapted / "eval" / "test" / "best.json").read_text())["utterances"] == 1
