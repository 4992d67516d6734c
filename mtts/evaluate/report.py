"""Markdown reports and side-by-side comparison tables."""

from __future__ import annotations

import os
from pathlib import Path

from mtts.io import write_text

ORDER = ["wer", "cer", "mcd_db", "log_f0_rmse_cents", "vuv_error", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak",
         "dnsmos_p808", "speaker_sim",
         "speaker_sim_other", "rtf", "rtf_acoustic", "rtf_vocoder", "mel_l1", "mel_l2", "duration_mae_frames",
         "f0_rmse_hz", "energy_mae", "forward_sum"]


def metric_keys(rows: list[dict]) -> list[str]:
    present = {k for r in rows for k in r if not k.startswith("loss_")}
    return [k for k in ORDER if k in present] + sorted(present - set(ORDER))


def fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def table(names: list[str], rows: list[dict]) -> str:
    keys = metric_keys(rows)
    lines = ["| system | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, r in zip(names, rows):
        lines.append(f"| {name} | " + " | ".join(fmt(r.get(k)) for k in keys) + " |")
    return "\n".join(lines)


def interval_lines(results: list[dict]) -> list[str]:
    """'name: WER 19.9 % (95 % CI 16.9–23.0), CER ...' for each result scored with asr."""
    lines = []
    for r in results:
        ci = r.get("asr", {}).get("ci95")
        if ci:
            m = r["metrics"]
            lines.append(f"{Path(r['checkpoint']).stem}: " + ", ".join(
                f"{k.upper()} {100 * m[k]:.1f} % (95 % CI {100 * ci[k][0]:.1f}–{100 * ci[k][1]:.1f})"
                for k in ("wer", "cer") if k in ci))
    return lines


def _end(x: float | None) -> str:
    return "unbounded" if x is None else f"{x:.2f}"


def teacher_lines(results: list[dict]) -> list[str]:
    """'name: WER 20.6 % = 2.9× the teacher's 7.2 % (95 % CI 2.3–3.6×), CER ...' where a
    result was scored against the teacher on the same sentences."""
    lines = []
    for r in results:
        vs = r.get("vs_teacher")
        if vs and vs.get("ratio"):
            m, t = r["metrics"], vs["teacher"]
            lines.append(f"{Path(r['checkpoint']).stem}: " + ", ".join(
                f"{k.upper()} {100 * m[k]:.1f} % = {q[0]:.2f}× the teacher's {100 * t[k]:.1f} % "
                f"(95 % CI {_end(q[1])}–{_end(q[2])}×)" for k, q in vs["ratio"].items()))
    return lines


def similarity_line(ref: dict) -> str:
    """The reference points of speaker_sim (mtts/evaluate/similarity.py) in one sentence."""
    line = (f"Speaker similarity (resemblyzer's GE2E encoder, cosine to the mean of the speaker's other recordings "
            f"in the split): the {ref['recordings']} recordings themselves score {fmt(ref.get('own'))}")
    if "other" in ref:
        line += (f" against their own speaker and {fmt(ref['other'])} against the nearest of the "
                 f"{ref['speakers'] - 1} other speaker(s) (speaker_sim_other)")
    return line + "."


def write_report(path: Path, results: list[dict], refs: dict | None, out_dir: Path) -> None:
    names = [Path(r["checkpoint"]).stem for r in results]
    rows = [r["metrics"] for r in results]
    if refs:
        names += ["recordings", "Griffin-Lim of true mels"]
        rows += [refs["reference"], refs["resynthesis"]]
    split = results[0]["split"]
    parts = [f"# Evaluation on {split}", "",
             f"{results[0]['utterances']} utterances. WER/CER: pocketsphinx + jiwer; MCD: mel-cepstral distortion "
             "(coefficients 1–24 of the 80-band log-mel, DTW-aligned, dB); log-F0 RMSE in cents on frames voiced "
             "in both; DNSMOS: speechmos. Lower is better except DNSMOS and speaker_sim.", "", table(names, rows), ""]
    if sim := next((r["speaker_similarity"]["recordings"] for r in results if "speaker_similarity" in r), None):
        parts += [similarity_line(sim), ""]
    if intervals := interval_lines(results):
        parts += ["WER and CER with 95 % bootstrap intervals over the utterances (transcripts in each "
                  "checkpoint's JSON, `asr.transcripts`):", ""] + [f"- {x}" for x in intervals] + [""]
    if against := teacher_lines(results):
        parts += ["Against the teacher, the voice the corpus was read by, on the same sentences and by the same "
                  "judge (95 % paired bootstrap intervals of the ratio):", ""] + [f"- {x}" for x in against] + [""]
    for r in results:   # a multi-speaker model: each speaker's sentences apart
        if per := r.get("per_speaker"):
            parts += [f"## Per speaker: {Path(r['checkpoint']).stem}", "",
                      table([f"{s} ({v['utterances']})" for s, v in per.items()], [v["metrics"] for v in per.values()]),
                      ""]
    if (out_dir / "curves.png").is_file():
        parts += ["## Metrics per checkpoint", "", "![curves](curves.png)", ""]
    for r in results:
        stem = Path(r["checkpoint"]).stem
        plots = sorted((out_dir / stem / "plots").glob("*.png"))
        wavs = sorted((out_dir / stem / "wavs").glob("*.wav"))[:3]
        if plots or wavs:
            parts += [f"## {stem}", ""]
            parts += [f"![{p.stem}]({os.path.relpath(p, out_dir)})" for p in plots]
            parts += [""] + [f"- [{w.name}]({os.path.relpath(w, out_dir)})" for w in wavs] + [""]
    write_text(path, "\n".join(parts) + "\n")
