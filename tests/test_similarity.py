"""Speaker similarity (mtts/evaluate/similarity.py, `--metrics similarity`): resemblyzer's
offline encoder scores a voice against its own recordings higher than against another's,
and evaluate writes the scores and the recordings' reference points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mtts.cli import app
from mtts.errors import MttsError
from mtts.evaluate import parse_groups, similarity as S

from conftest import TINY, mtts

runner = CliRunner()
requires_resemblyzer = pytest.mark.skipif(not S.available(),
                                          reason="resemblyzer is not installed (pip install 'mtts[eval]')")


def split(root: Path, corpus: Path, ids: list[str]) -> Path:
    """A data split of the two-voice corpus' recordings `ids` (text, wav.scp, utt2spk)."""
    root.mkdir(parents=True, exist_ok=True)
    meta = {line.split("|")[0]: line.split("|") for line in (corpus / "metadata.csv").read_text().splitlines()}
    (root / "text").write_text("".join(f"{u} {meta[u][2]}\n" for u in ids))
    (root / "wav.scp").write_text("".join(f"{u} {corpus / 'wavs' / f'{u}.wav'}\n" for u in ids))
    (root / "utt2spk").write_text("".join(f"{u} {meta[u][3]}\n" for u in ids))
    return root


@requires_resemblyzer
def test_the_same_voice_scores_higher_than_another(two_voice_corpus, tmp_path):
    refs = [f"{s}_{i:03d}" for s in ("alice", "bob") for i in range(4)]
    d = split(tmp_path / "dev", two_voice_corpus, refs)
    wav = {u: str(two_voice_corpus / "wavs" / f"{u}.wav") for u in ("alice_005", "bob_005")}
    # "synthesis" of alice_000 in alice's voice (another sentence of hers), then in bob's
    same, ref = S.similarity([("alice_000", wav["alice_005"], None), ("bob_000", wav["bob_005"], None)], d)
    swapped, _ = S.similarity([("alice_000", wav["bob_005"], None), ("bob_000", wav["alice_005"], None)], d)
    for u in ("alice_000", "bob_000"):
        assert same[u]["speaker_sim"] > swapped[u]["speaker_sim"] + 0.05, (same, swapped)
        assert same[u]["speaker_sim"] > same[u]["speaker_sim_other"]
        assert swapped[u]["speaker_sim_other"] > swapped[u]["speaker_sim"]
    assert ref["recordings"] == 8 and ref["speakers"] == 2
    assert 0 < ref["other"] < ref["own"] <= 1
    # a sentence of a text list (an id the split lacks) is measured against the voice it was
    # spoken in; a sentence of the split against its recording's, whatever voice spoke it
    as_bob, _ = S.similarity([("list_1", wav["bob_005"], "bob")], d)
    as_alice, _ = S.similarity([("list_1", wav["bob_005"], "alice"), ("bob_000", wav["bob_005"], "alice")], d)
    assert as_bob["list_1"]["speaker_sim"] > as_alice["list_1"]["speaker_sim"] + 0.05
    assert as_alice["bob_000"]["speaker_sim"] == pytest.approx(same["bob_000"]["speaker_sim"])


def test_reference_points_leave_out_the_utterance_itself():
    import numpy as np
    e = {"a1": np.array([1.0, 0.0]), "a2": np.array([0.0, 1.0]), "b1": np.array([1.0, 1.0])}
    spk = {"a1": "a", "a2": "a", "b1": "b"}
    by = S.centroids(e, spk)
    assert S.scores(e["a1"], "a1", "a", e, by) == {"speaker_sim": 0.0, "speaker_sim_other": pytest.approx(0.5 ** 0.5)}
    ref = S.reference_points(e, spk)   # b1 has no other recording of its own: only its `other`
    assert ref["own"] == 0.0 and ref["other"] == pytest.approx((2 * 0.5 ** 0.5 + 1) / 3)
    assert "other" not in S.reference_points({"a1": e["a1"], "a2": e["a2"]}, {})   # one speaker


def test_similarity_is_refused_without_resemblyzer(monkeypatch):
    monkeypatch.setattr(S, "available", lambda: False)
    with pytest.raises(MttsError, match="needs resemblyzer: pip install 'mtts\\[eval\\]'"):
        parse_groups("tasks,similarity")
    assert "similarity" not in parse_groups("all")


@requires_resemblyzer
def test_evaluate_writes_speaker_similarity_and_its_reference_points(two_voice_corpus, tmp_path):
    mtts("prepare", two_voice_corpus, "--data-dir", tmp_path / "data", "--dump-dir", tmp_path / "dump", "--nj", 2,
         "--n-dev", 2, "--n-test", 2)
    mtts("tokenize", "--data-dir", tmp_path / "data", "--dump-dir", tmp_path / "dump")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "max_steps": 2}}))
    mtts("train", "-c", tmp_path / "tiny.yaml", "--data-dir", tmp_path / "data", "--dump-dir", tmp_path / "dump",
         "--exp-dir", tmp_path / "exp")
    mtts("evaluate", "--exp-dir", tmp_path / "exp", "--data-dir", tmp_path / "data", "--split", "train",
         "--metrics", "similarity", "--max-utts", 3)
    out = json.loads(next((tmp_path / "exp" / "eval" / "train").glob("step_*.json")).read_text())
    assert -1 <= out["metrics"]["speaker_sim"] <= 1 and "speaker_sim_other" in out["metrics"]
    assert len(out["per_utterance"]) == 3 and all("speaker_sim" in v for v in out["per_utterance"].values())
    assert set(out["per_speaker"]) and all("speaker_sim" in v["metrics"] for v in out["per_speaker"].values())
    ref = out["speaker_similarity"]["recordings"]   # every recording of the split, not only the scored
    assert ref["recordings"] == 8 and ref["speakers"] == 2 and ref["own"] > ref["other"]
    assert "the 8 recordings themselves score" in (tmp_path / "exp" / "eval" / "train" / "report.md").read_text()
    # a text list in one named voice, against that voice's recordings in --split
    (tmp_path / "t.txt").write_text("u1|The birch canoe slid on the smooth planks.\n")
    spk = sorted(ref_spk := set(line.split()[1] for line in
                                (tmp_path / "data" / "train" / "utt2spk").read_text().splitlines()))[-1]
    args = ["evaluate", "--exp-dir", str(tmp_path / "exp"), "--text-file", str(tmp_path / "t.txt"),
            "--data-dir", str(tmp_path / "data"), "--split", "train", "--metrics", "similarity"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "pass --speaker NAME" in res.output
    mtts(*args, "--speaker", spk)
    out = json.loads(next((tmp_path / "exp" / "eval" / f"t_{spk}").glob("step_*.json")).read_text())
    assert out["speaker"] == spk and list(out["per_speaker"]) == [spk] and len(ref_spk) == 2
    assert set(out["per_utterance"]["u1"]) >= {"speaker_sim", "speaker_sim_other"}
