"""The `mtts` command line: one command per pipeline stage. Each parses options, calls
one stage function and prints a summary; problems end as one red line and exit 1."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mtts.console import console
from mtts.errors import MttsError
from mtts.limits import MAX_CHARS, MAX_SECONDS

POSTFILTER_DEFAULT = 0.0   # = mtts.synthesize.POSTFILTER, not imported here to keep --help free of torch

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Multi-task learning for text-to-speech: prepare -> tokenize -> train -> "
                       "evaluate -> select-best -> synthesize.")


def stage(fn):
    """Turn MttsError into a one-line message and exit code 1 (no traceback)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MttsError as e:
            console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        except OSError as e:  # disk full, permissions: the message names the file
            where = f": {e.filename}" if e.filename else ""
            console.print(f"[bold red]error:[/] {e.strerror or e}{where}", highlight=False, soft_wrap=True)
            raise typer.Exit(1)
    return wrapper


def _metric_table(title: str, names: list[str], rows: list[dict]) -> None:
    """Metrics as rows and systems as columns: stays readable in a narrow terminal."""
    from mtts.evaluate.report import metric_keys
    table = Table(title=title)
    table.add_column("metric")
    for n in names:
        table.add_column(n, justify="right")
    for k in metric_keys(rows):
        table.add_row(k, *(f"{r[k]:.4g}" if k in r else "–" for r in rows))
    console.print(table)


def _print_json(obj) -> None:
    """Summaries go to stdout as JSON (for scripts); progress and logs go to stderr."""
    print(json.dumps(obj, indent=2))


@app.command()
@stage
def prepare(
    corpus: Path = typer.Argument(..., help="LJSpeech-layout corpus: metadata.csv and wavs/."),
    data_dir: Path = typer.Option(Path("data"), help="Where the Kaldi-style data dirs go."),
    dump_dir: Path = typer.Option(Path("dump"), help="Where features and statistics go."),
    nj: int = typer.Option(2, help="Feature-extraction worker processes on this host (in each shard too)."),
    job: Optional[int] = typer.Option(None, help="Run shard K (1..N) of --njobs N only: the features of the "
                                                 "utterances whose id hashes to K, e.g. K=$SLURM_ARRAY_TASK_ID. "
                                                 "Shards may run at once; then --merge (docs/scaling.md)."),
    njobs: int = typer.Option(1, help="How many shards the corpus is cut into (with --job or --merge)."),
    merge: bool = typer.Option(False, "--merge", help="Combine the --njobs shards into the data dirs and "
                                                      "stats a single run writes (the same bytes)."),
    n_dev: int = typer.Option(0, help="Dev utterances (0: 5 % of the corpus, 2 to 100)."),
    n_test: int = typer.Option(0, help="Test utterances (0: 5 % of the corpus, 2 to 100)."),
    skip_bad: bool = typer.Option(False, help="Drop bad utterances with a warning instead of stopping."),
    sample_rate: int = typer.Option(22050, help="Target sample rate; other rates are resampled."),
    trim_db: float = typer.Option(0.0, help="Cut leading and trailing silence quieter than this many dB "
                                  "below the loudest frame, keeping 50 ms (0: keep it all)."),
):
    """Validate a corpus, write train/dev/test data dirs and extract log-mel, F0 and energy;
    in shards (--job K --njobs N, then --merge --njobs N with the same options) for array jobs."""
    from mtts.data.prepare import prepare as run
    from mtts.features.audio import FeatureParams
    if not 0 <= trim_db <= 120:
        raise MttsError(f"--trim-db must be between 0 (off) and 120, got {trim_db}")
    summary = run(corpus, data_dir, dump_dir, nj, n_dev, n_test, skip_bad,
                  FeatureParams(sample_rate=sample_rate, trim_db=trim_db), job, njobs, merge)
    _print_json(summary)


@app.command()
@stage
def tokenize(
    data_dir: Path = typer.Option(Path("data"), help="Data dirs written by prepare."),
    dump_dir: Path = typer.Option(Path("dump"), help="Where tokens.txt and the phonemizer cache go."),
    normalizer: str = typer.Option("builtin", help="Text normaliser: builtin (light, default) or nemo "
                                                    "(NVIDIA's WFST normaliser, pip install 'mtts[tn]')."),
    lexicon_words: int = typer.Option(0, help="Also write a G2P lexicon of N cmudict words (espeak "
                                               "pronunciations) to DUMP/lexicon/ for data.mix.lexicon."),
    lexicon: Optional[Path] = typer.Option(None, help="User lexicon, word<TAB>pronunciation (IPA or ARPAbet) "
                                                      "per line: these words skip espeak; saved in the model "
                                                      "(docs/text.md)."),
    job: Optional[int] = typer.Option(None, help="Run shard K (1..N) of --njobs N only: the utterances whose "
                                                 "id hashes to K. Shards may run at once; then --merge."),
    njobs: int = typer.Option(1, help="How many shards the utterances are cut into (with --job or --merge)."),
    merge: bool = typer.Option(False, "--merge", help="Combine the --njobs shards into the files a single run "
                                                      "writes (the same bytes)."),
):
    """Normalise text, phonemize with espeak-ng (cached) and build the token tables; in shards
    (--job K --njobs N, then --merge --njobs N with the same options) for array jobs."""
    from mtts.data.tokenize import tokenize as run
    if lexicon_words < 0:
        raise MttsError(f"--lexicon-words must be >= 0, got {lexicon_words}")
    _print_json(run(data_dir, dump_dir, normalizer, lexicon_words, lexicon, job, njobs, merge))


@app.command()
@stage
def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (see recipes/*/conf)."),
    data_dir: Path = typer.Option(Path("data")),
    dump_dir: Path = typer.Option(Path("dump")),
    exp_dir: Path = typer.Option(Path("exp/train"), help="Checkpoints, logs and config go here."),
    resume: bool = typer.Option(False, help="Continue from the newest checkpoint in exp-dir."),
    seed: Optional[int] = typer.Option(None, help="Override train.seed."),
    max_steps: Optional[int] = typer.Option(None, help="Override train.max_steps."),
    max_minutes: Optional[float] = typer.Option(None, help="Override train.max_minutes (wall clock)."),
    mtl_method: Optional[str] = typer.Option(None, help="Override mtl.method."),
    max_utts: int = typer.Option(0, help="Train on the first N utterances only (0: all)."),
    init_from: Optional[Path] = typer.Option(None, help="Adapt: start from this model package, checkpoint or "
                                                         "exp dir (same tokens and features); override "
                                                         "train.init_from; see train.freeze and docs/adaptation.md."),
    device: str = typer.Option("auto", envvar="MTTS_DEVICE",
                               help="auto (cuda when a GPU is there), cpu or cuda; under torchrun each "
                                    "process takes the GPU of its LOCAL_RANK (docs/scaling.md)."),
    timeout: float = typer.Option(1800.0, help="Under torchrun: seconds a process waits for the others (a dev "
                                               "evaluation on rank 0 included) before it stops with an error."),
):
    """Train the MultiTaskModel: shared encoder + task heads, L = sum of lambda_i * L_i.
    Several processes: `torchrun --nproc-per-node N -m mtts.cli train ...` (docs/scaling.md)."""
    from mtts.distributed import env_rank
    from mtts.train import train as run
    from mtts.validate import load_config
    if not 0 < timeout <= 86400:
        raise MttsError(f"--timeout must be > 0 and <= 86400 seconds, got {timeout:g}")
    # overrides go into the YAML's mapping, so they are checked as if they were written there
    cfg = load_config(config, {"train.seed": seed, "train.max_steps": max_steps,
                               "train.max_minutes": max_minutes, "mtl.method": mtl_method,
                               "train.init_from": str(init_from) if init_from is not None else None})
    result = run(cfg, data_dir, dump_dir, exp_dir, resume, max_utts, device=device, timeout_s=timeout)
    if env_rank() == 0:   # one summary, not one per process
        _print_json(result)


@app.command()
@stage
def ablate(
    plan: Path = typer.Option(..., "--plan", "-p", help="Ablation plan YAML: variants, sizes, seeds, steps "
                                                       "(see recipes/mini/conf/ablate.yaml)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Base training config."),
    data_dir: Path = typer.Option(Path("data")),
    dump_dir: Path = typer.Option(Path("dump")),
    exp_dir: Path = typer.Option(Path("exp/ablate"), help="Training runs go to EXP/<size>/<variant>/seed<k>/."),
    results: Optional[Path] = typer.Option(None, help="One small JSON per finished cell, "
                                                      "RESULTS/<size>/<variant>/seed<k>.json, meant to be "
                                                      "committed (default EXP/results)."),
    report: Optional[Path] = typer.Option(None, help="The Markdown report, rebuilt from RESULTS (default "
                                                     "EXP/report.md; e.g. docs/ablation.md), its plot beside it."),
    only: Optional[str] = typer.Option(None, help="Comma-separated variants to run now."),
    sizes: Optional[str] = typer.Option(None, help="Comma-separated data sizes to run now (minutes or full)."),
    seeds: Optional[str] = typer.Option(None, help="Comma-separated seeds of the plan to run now."),
    job: Optional[int] = typer.Option(None, help="Run share K (1..N) of the chosen cells, every N-th from the "
                                                 "K-th, e.g. K=$SLURM_ARRAY_TASK_ID; each share rebuilds the "
                                                 "report from the results there are."),
    njobs: int = typer.Option(1, help="How many jobs share the chosen cells (with --job)."),
    job_index: int = typer.Option(0, hidden=True, help="Older spelling of --job, 0-based."),
    jobs: int = typer.Option(1, hidden=True, help="Older spelling of --njobs."),
    steps: Optional[int] = typer.Option(None, help="Training steps of every cell (default: the plan's)."),
    score_utts: Optional[int] = typer.Option(None, help="Dev sentences synthesised and scored per cell "
                                                        "(default: the plan's, 50)."),
    asr: bool = typer.Option(True, help="Score WER/CER with pocketsphinx (the eval extra); --no-asr: "
                                        "MCD and F0 only."),
    nj: int = typer.Option(2, help="Parallel jobs for scoring."),
    report_only: bool = typer.Option(False, help="Train nothing: rebuild the report from RESULTS."),
    note: Optional[str] = typer.Option(None, help="A paragraph for the report, e.g. how the cells were run."),
    device: str = typer.Option("cpu", envvar="MTTS_DEVICE", help="Where each cell trains: cpu, cuda or auto "
                                                                 "(scoring runs on the CPU)."),
):
    """Single- vs multi-task ablation at equal steps over paired seeds and data sizes, judged
    on free-running synthesis of dev sentences (WER, CER, MCD, log-F0 RMSE): paired bootstrap
    intervals, Holm-corrected verdicts (better / worse / inconclusive), run in pieces."""
    import shlex

    from mtts.ablate import ablate as run, job_share, size_label

    def split(text: Optional[str], kind=str) -> Optional[list]:
        if not text:
            return None
        try:
            return [kind(x.strip()) for x in text.split(",") if x.strip()]
        except ValueError:
            raise MttsError(f"cannot read {text!r} as a comma-separated list") from None
    # the full command line, defaults included, so the report says exactly what made it
    parts = ["--plan", plan, *(["--config", config] if config else []), "--data-dir", data_dir,
             "--dump-dir", dump_dir, "--exp-dir", exp_dir, *(["--results", results] if results else []),
             *(["--report", report] if report else []), *(["--only", only] if only else []),
             *(["--sizes", sizes] if sizes else []), *(["--seeds", seeds] if seeds else []),
             *(["--job", job, "--njobs", njobs] if job is not None else []),
             *(["--job-index", job_index, "--jobs", jobs] if jobs != 1 else []),
             *(["--steps", steps] if steps is not None else []),
             *(["--score-utts", score_utts] if score_utts is not None else []),
             *([] if asr else ["--no-asr"]), *(["--report-only"] if report_only else [])]
    command = "mtts ablate " + " ".join(shlex.quote(str(a)) for a in parts)
    share = job_share(job, njobs, job_index, jobs)
    _print_json(run(config, plan, data_dir, dump_dir, exp_dir, results, report, split(only),
                    [size_label(x) for x in split(sizes) or []] or None, split(seeds, int), share,
                    steps, score_utts, asr, nj, report_only, command, note, device))


@app.command("train-vocoder")
@stage
def train_vocoder(
    config: Optional[Path] = typer.Option(None, "--config", "-c",
                                          help="Vocoder YAML (see recipes/mini/conf/vocoder.yaml)."),
    data_dir: Path = typer.Option(Path("data")),
    dump_dir: Path = typer.Option(Path("dump")),
    exp_dir: Path = typer.Option(Path("exp/vocoder"), help="Checkpoints, log and config go here."),
    resume: bool = typer.Option(False, help="Continue from the newest checkpoint in exp-dir."),
    seed: Optional[int] = typer.Option(None, help="Override seed."),
    max_steps: Optional[int] = typer.Option(None, help="Override max_steps."),
    max_minutes: Optional[float] = typer.Option(None, help="Override max_minutes (wall clock)."),
    max_utts: int = typer.Option(0, help="Train on the first N utterances only (0: all)."),
    init: Optional[str] = typer.Option(None, help="Override init: start from this vocoder (exp dir or "
                                                  "checkpoint), e.g. to fine-tune it with discriminators."),
    gta_model: Optional[str] = typer.Option(None, help="Override gta_model: acoustic model (exp dir or checkpoint) "
                                                       "whose teacher-forced mels are the input."),
    device: str = typer.Option("auto", envvar="MTTS_DEVICE", help="auto (cuda when a GPU is there), cpu or cuda."),
):
    """Train the neural vocoder (Vocos-style, iSTFT head) on the corpus's recordings and mels;
    with `discriminators` in the config, adversarial (fine-)tuning."""
    from mtts.vocoder.train import load_vocoder_config, train_vocoder as run
    cfg = load_vocoder_config(config, {"seed": seed, "max_steps": max_steps, "max_minutes": max_minutes,
                                       "init": init, "gta_model": gta_model})
    _print_json(run(cfg, data_dir, dump_dir, exp_dir, resume, max_utts, device=device))


@app.command()
@stage
def plot(exp_dir: Path = typer.Argument(..., help="Experiment dir with metrics.jsonl.")):
    """Training curves: per-task train/dev losses, task weights and frames/s as PNGs in EXP/plots/."""
    from mtts.training_plots import plot_training
    for path in plot_training(exp_dir):
        console.print(f"wrote {path}")


@app.command()
@stage
def evaluate(
    checkpoints: Optional[list[Path]] = typer.Argument(None, help="Checkpoints (default: all in exp-dir)."),
    exp_dir: Path = typer.Option(Path("exp/train"), help="Experiment dir; results go to EXP/eval/SPLIT/."),
    data_dir: Path = typer.Option(Path("data")),
    split: str = typer.Option("dev", help="Data split to score."),
    text_file: Optional[Path] = typer.Option(None, help="Score sentences of a text list (ID|text) instead "
                                                       "of a split: asr, dnsmos, speed, and similarity "
                                                       "against the recordings of --split."),
    speaker: Optional[str] = typer.Option(None, "--speaker", "-s",
                                          help="Voice of a multi-speaker model for every sentence (needed with "
                                               "--text-file; default on a split: each sentence's own, utt2spk)."),
    metrics: str = typer.Option("tasks", help="Comma-separated groups: tasks, acoustic, asr, dnsmos, speed, "
                                              "similarity (speaker, resemblyzer), or all. Only tasks is fast: "
                                              "the others synthesise every sentence."),
    references: bool = typer.Option(False, help="Also score the recordings and their Griffin-Lim resynthesis; "
                                                "WER/CER are then also given as multiples of the recordings'."),
    teacher: Optional[Path] = typer.Option(None, help="The teacher's readings of the same sentences (DIR/wavs/ID.wav "
                                                      "or DIR/ID.wav): scored by the same judge, and each model's "
                                                      "WER/CER given as multiples of the teacher's."),
    nj: int = typer.Option(1, help="Parallel scoring jobs."),
    max_utts: int = typer.Option(0, help="Score only the first N utterances (0: all)."),
    vocoder: str = typer.Option("auto", help="auto, griffin-lim or neural; other than auto, results go to "
                                             "EXP/eval/SPLIT_VOCODER/."),
    postfilter: float = typer.Option(POSTFILTER_DEFAULT, help="Global-variance postfilter strength, 0 (off) to 1; "
                                                              "other than the default, results go to "
                                                              "EXP/eval/SPLIT[_VOCODER]_pfSTRENGTH/."),
):
    """Score checkpoints: per-task metrics, MCD, F0, WER/CER, DNSMOS, speed, speaker similarity; JSON, table,
    plots, report."""
    from mtts import checkpoint
    from mtts.evaluate import evaluate as run, parse_groups
    groups = parse_groups(metrics)
    ckpts = checkpoints or checkpoint.list_checkpoints(exp_dir / "checkpoints")
    if not ckpts:
        raise MttsError(f"no checkpoints given and none in {exp_dir / 'checkpoints'}")
    split_dir = None if text_file else data_dir / split
    if split_dir is not None and not (split_dir / "text").is_file():
        raise MttsError(f"{split_dir / 'text'} does not exist: run `mtts prepare` first or pass --text-file")
    from mtts.synthesize import VOCODERS, check_postfilter
    if vocoder not in VOCODERS:
        raise MttsError(f"--vocoder must be one of {', '.join(VOCODERS)}, got {vocoder!r}")
    check_postfilter(postfilter)
    name = (text_file.stem if text_file else split) + ("" if vocoder == "auto" else f"_{vocoder}")
    name += "" if postfilter == POSTFILTER_DEFAULT else f"_pf{postfilter:g}"
    if speaker is not None:
        from mtts.io import check_id
        check_id(speaker, "--speaker")
        name += f"_{speaker}"
    sim_dir = data_dir / split if text_file and "similarity" in groups else None
    results = run(list(ckpts), split_dir, exp_dir / "eval" / name, groups, nj, max_utts, references, text_file,
                  vocoder, postfilter, teacher, speaker, sim_dir)
    _metric_table(f"evaluate on {name}", [Path(r["checkpoint"]).stem for r in results],
                  [r["metrics"] for r in results])
    for r in results[-1:]:   # a multi-speaker model on a split: the newest (or only) one per speaker
        if per := r.get("per_speaker"):
            _metric_table(f"{Path(r['checkpoint']).stem} per speaker", list(per), [v["metrics"] for v in per.values()])
    from mtts.evaluate.report import interval_lines, teacher_lines
    for line in interval_lines(results) + teacher_lines(results):
        console.print(line)


@app.command()
@stage
def compare(
    exps: list[Path] = typer.Argument(..., help="Experiment dirs to put side by side."),
    split: str = typer.Option("dev", help="Which evaluate results to read (EXP/eval/SPLIT)."),
    out: Optional[Path] = typer.Option(None, help="Also write the table as Markdown and JSON (OUT.md, OUT.json)."),
):
    """Side-by-side table of the same metrics over the same sentences for several experiments; with
    asr results, each one's WER/CER difference from the first with a 95 % paired bootstrap interval."""
    from mtts.compare import compare as run
    rows, warning = run(exps, split)
    from mtts.evaluate.report import table as md_table
    _metric_table(f"compare on {split}", [f"{r['experiment']} ({r['checkpoint']})" for r in rows],
                  [r["metrics"] for r in rows])
    if warning:
        console.print(f"[yellow]warning: {warning}")
    from mtts.compare import difference_lines
    for line in difference_lines(rows):
        console.print(line)
    if out is not None:
        from mtts.io import write_json, write_text
        md = md_table([r["experiment"] for r in rows], [r["metrics"] for r in rows])
        write_text(out.with_suffix(".md"), md + "\n")
        write_json(out.with_suffix(".json"), rows)


@app.command("select-best")
@stage
def select_best(
    exp_dir: Path = typer.Option(Path("exp/train")),
    split: str = typer.Option("dev", help="Which evaluate results to rank."),
    metric: str = typer.Option("mel_l1", help="Metric key in the evaluate results, or a weighted "
                                              "combination such as 'wer:1,mcd_db:0.05'."),
    higher_better: bool = typer.Option(False, help="Higher values of a single --metric are better "
                                                   "(default: the metric's own direction; lower for most)."),
    average: int = typer.Option(1, help="Average the weights of the N best checkpoints."),
    out: Optional[Path] = typer.Option(None, help="Model package to write (default EXP/best.safetensors)."),
    vocoder: Optional[Path] = typer.Option(None, help="Neural vocoder to ship in the package: its exp dir "
                                                      "(newest checkpoint) or a checkpoint file."),
):
    """Pick the best checkpoint by a metric and write the model package synthesize reads."""
    from mtts.select import select_best as run
    record = run(exp_dir / "eval" / split / "summary.json", out or exp_dir / "best.safetensors",
                 metric, higher_better, average, vocoder)
    console.print(f"selected {', '.join(Path(c).name for c in record['chosen'])}: "
                  f"{metric}={record['value']:.4f} -> {record['model']} ({record['why']})")


@app.command()
@stage
def export(
    model: Path = typer.Option(..., "--model", "-m",
                               help="Model package (best.safetensors), with its vocoder if packaged."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Export to ONNX (the only format so far)."),
    out: Path = typer.Option(Path("onnx"), help="Directory for encoder/decoder/vocoder.onnx and meta.json."),
    check_text: str = typer.Option("Printing, in the only sense with which we are at present concerned, "
                                   "differs from most if not from all the arts.",
                                   help="Sentence on which torch and onnxruntime are compared."),
    tolerance: float = typer.Option(1e-3, help="Largest mel difference accepted by the check."),
):
    """Export the acoustic model and vocoder to ONNX, then compare onnxruntime with torch."""
    from mtts.export import check_export, export_onnx
    if not onnx:
        raise MttsError("nothing to do: --onnx is the only export format")
    if not model.is_file():
        raise MttsError(f"model {model} does not exist")
    summary = export_onnx(model, out)
    rec = check_export(model, out, check_text)
    summary["check"] = rec
    _print_json(summary)
    if rec["mel_max_abs_diff"] > tolerance:
        raise MttsError(f"onnxruntime differs from torch by {rec['mel_max_abs_diff']:.2e} on the mel "
                        f"(tolerance {tolerance:g})")


@app.command()
@stage
def synthesize(
    model: Path = typer.Option(..., "--model", "-m", help="best.safetensors or any training checkpoint."),
    text: Optional[str] = typer.Option(None, "--text", "-t", help="Text to speak."),
    text_file: Optional[Path] = typer.Option(None, help="File of lines 'text' or 'ID|text' (with --stream: "
                                                        "plain text lines; '-' reads standard input)."),
    out: Optional[Path] = typer.Option(None, help="Output wav (--text, --stream; default out.wav) or "
                                                  "directory (--text-file)."),
    length_scale: float = typer.Option(1.0, help="Speaking-rate factor: >1 slower, <1 faster."),
    n_iter: int = typer.Option(32, help="Griffin-Lim iterations."),
    input: str = typer.Option("auto", "--input", help="auto (what the model reads), phonemes (espeak-ng G2P) or "
                                                       "chars (a character model's input, or a phoneme model's own "
                                                       "G2P task; no phonemizer needed)."),
    vocoder: str = typer.Option("auto", help="auto (neural when the package has one, else Griffin-Lim), "
                                             "griffin-lim or neural."),
    postfilter: float = typer.Option(POSTFILTER_DEFAULT, help="Global-variance postfilter strength, 0 (off) to 1: "
                                                              "how far each mel bin's variation is raised "
                                                              "towards the training recordings'."),
    lexicon: Optional[Path] = typer.Option(None, help="User lexicon (word<TAB>pronunciation): adds to or "
                                                      "overrides the one saved in the model (docs/text.md)."),
    stream: bool = typer.Option(False, "--stream", help="Speak sentence by sentence, writing each one's audio as "
                                                        "soon as it is made: the --out wav grows as it goes. Text "
                                                        "from --text, --text-file or standard input, a line at a "
                                                        "time."),
    output_raw: bool = typer.Option(False, "--output-raw", help="Stream raw 16-bit little-endian mono PCM to "
                                                                "standard output instead of a wav (implies "
                                                                "--stream), e.g. | aplay -r 22050 -f S16_LE -t raw -"),
    max_chars: int = typer.Option(MAX_CHARS, help="Longest --text, or --text-file line, in characters (0: no limit)."),
    max_seconds: float = typer.Option(MAX_SECONDS, help="Longest output wav, in seconds (0: no limit)."),
    speaker: Optional[str] = typer.Option(None, "--speaker", "-s", help="Voice of a multi-speaker model, by the "
                                          "name in its corpus' speaker column (default: its first speaker); an "
                                          "unknown name lists the known ones."),
):
    """Speak text with a trained model (neural or Griffin-Lim vocoder), 22,050 Hz wav out."""
    from mtts.synthesize import SOURCES, Synthesizer, check_postfilter, read_text_file, write_wav
    check_postfilter(postfilter)
    stream = stream or output_raw
    if output_raw and out is not None:
        raise MttsError("--output-raw writes to standard output: leave out --out")
    if text is not None and text_file is not None:
        raise MttsError("give exactly one of --text or --text-file")
    if text is None and text_file is None and not stream:
        raise MttsError("give exactly one of --text or --text-file (or --stream to read standard input)")
    out = out if out is not None or output_raw else Path("out.wav")
    if not model.is_file():
        raise MttsError(f"model {model} does not exist: run select-best first or pass a checkpoint")
    if input not in SOURCES:
        raise MttsError(f"--input must be one of {', '.join(SOURCES)}, got {input!r}")
    if length_scale <= 0:
        raise MttsError(f"--length-scale must be > 0, got {length_scale}")
    if max_chars < 0 or not max_seconds >= 0:
        raise MttsError(f"--max-chars and --max-seconds must be >= 0 (0: no limit), got {max_chars}, {max_seconds}")
    if text is not None:
        from mtts.limits import check_chars
        check_chars(text, "--text", max_chars)
    if (text is not None or stream) and out is not None and out.suffix.lower() != ".wav":
        raise MttsError(f"--out {out} must end in .wav")
    if (text is not None or stream) and out is not None and not out.parent.is_dir():
        raise MttsError(f"cannot write {out}: directory {out.parent} does not exist")
    if output_raw and sys.stdout.isatty():
        raise MttsError("--output-raw writes binary audio: pipe it, e.g. | aplay -r 22050 -f S16_LE -t raw -")
    synth = Synthesizer.load(model, vocoder, postfilter, speaker)
    if speaker is None and synth.speakers:
        console.print(f"note: speaking as {synth.default_speaker}, the model's first speaker; --speaker chooses "
                      f"one of {', '.join(sorted(synth.speakers))}", highlight=False, soft_wrap=True)
    if lexicon is not None:
        synth.add_lexicon(lexicon)
    if postfilter > 0 and synth.postfilter_strength == 0:
        console.print("note: this model's statistics predate the postfilter (no mel_gv): it is off")
    sr = synth.params.sample_rate
    if stream:
        _synthesize_stream(synth, text, text_file, out, length_scale, n_iter, input, max_chars)
        return
    if text is not None:
        wav, info = synth(text, length_scale, n_iter, input, max_seconds=max_seconds)
        write_wav(out, wav, sr)
        console.print(f"wrote {out} ({info['audio_s']:.2f} s, RTF {info['rtf']:.3f})")
        return
    items = read_text_file(text_file, max_chars)
    from mtts.console import progress
    from mtts.io import child_path
    with progress() as prog:
        task = prog.add_task("synthesize", total=len(items))
        for uid, line in items:
            try:
                wav, _ = synth(line, length_scale, n_iter, input, max_seconds=max_seconds)
            except MttsError as e:
                raise MttsError(f"{text_file}, id {uid}: {e}") from None
            write_wav(child_path(out, f"{uid}.wav"), wav, sr)
            prog.advance(task)
    console.print(f"wrote {len(items)} wavs to {out}")


def _synthesize_stream(synth, text, text_file, out, length_scale, n_iter, source, max_chars) -> None:
    """--stream: sentences to a growing wav (`out`) or, with out None, raw PCM on standard output."""
    from mtts.synthesize import WavStream, pcm16, stream_lines, synthesize_stream
    sr = synth.params.sample_rate
    if out is None:
        console.print(f"raw 16-bit little-endian mono PCM at {sr} Hz on standard output")

        def write(wav):
            try:
                sys.stdout.buffer.write(pcm16(wav))
                sys.stdout.buffer.flush()
            except BrokenPipeError:
                # the player went away; keep Python's exit flush from failing on the closed pipe
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise MttsError("standard output was closed (the player stopped reading)") from None
        sink = None
    else:
        sink = WavStream(out, sr)
        write = sink.write
    note = lambda msg: console.print(f"note: {msg}", highlight=False, soft_wrap=True)   # noqa: E731
    try:
        info = synthesize_stream(synth, stream_lines(text, text_file, max_chars), write, length_scale, n_iter,
                                 source, note)
    except BaseException:
        if sink is not None:
            sink.abort()    # a failed stream leaves no half-written wav behind
        raise
    if sink is not None:
        sink.close()
    where = "standard output" if out is None else out
    console.print(f"wrote {info['audio_s']:.2f} s of audio ({info['sentences']} sentences) to {where}; "
                  f"first audio after {info['first_audio_s'] * 1000:.0f} ms, all in {info['total_s']:.2f} s",
                  highlight=False, soft_wrap=True)




@app.command()
@stage
def serve(
    model: Path = typer.Option(..., "--model", "-m", help="best.safetensors or any training checkpoint."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on: loopback only by default; 0.0.0.0 opens "
                                               "the server to the network (it has no authentication)."),
    port: int = typer.Option(5002, help="TCP port."),
    max_chars: int = typer.Option(5000, help="Longest text a request may send (413 beyond)."),
    timeout: float = typer.Option(60.0, help="Seconds a request may take in all, waiting included (504 beyond)."),
    queue: int = typer.Option(8, help="Requests that may wait behind the one being synthesised (503 beyond)."),
    n_iter: int = typer.Option(32, help="Griffin-Lim iterations."),
    postfilter: float = typer.Option(POSTFILTER_DEFAULT, help="Global-variance postfilter strength, 0 (off) to 1."),
):
    """Serve a model over HTTP: /api/tts (wav), /api/tts/stream (sentence by sentence), /api/voices,
    /api/health, the API page /docs and a web page at / (docs/serving.md). Needs the serve extra."""
    try:
        from mtts.serve import Limits, serve as run
    except ImportError as e:
        raise MttsError(f"mtts serve needs {e.name}: pip install -e '.[serve]'") from None
    from mtts.synthesize import check_postfilter
    check_postfilter(postfilter)
    if n_iter < 1:
        raise MttsError(f"--n-iter must be >= 1, got {n_iter}")
    run(model, host, port, Limits(max_chars, timeout, queue), n_iter, postfilter)


@app.command()
@stage
def convert(
    src: Path = typer.Argument(..., help="A model package or checkpoint written by an older mtts "
                                         "(best.pt, step_*.pt)."),
    out: Path = typer.Argument(..., help="Where the converted file goes: a .safetensors model package, or a .pt "
                                         "training checkpoint that --resume reads."),
    trust: bool = typer.Option(False, "--trust", help="Required: reading an old file runs the code it holds, "
                                                      "so only convert files you made yourself or trust."),
):
    """Convert a file from before safe loading into today's formats. Reading the old file runs
    whatever code it holds: only for files you trust."""
    from mtts.convert import convert as run
    if not trust:
        raise MttsError(f"reading {src} would run any code it holds; pass --trust only for files you made "
                        "yourself or trust")
    _print_json(run(src, out))


@app.command()
@stage
def normalize(
    text: Optional[str] = typer.Argument(None, help="Text to read; '-' or nothing reads standard input."),
    text_file: Optional[Path] = typer.Option(None, help="Read each line of this UTF-8 file."),
    explain: bool = typer.Option(False, help="Also show which rule read which span: span, class, reading."),
):
    """Print text as the built-in normaliser reads it (numbers, dates, money, units ... in words)."""
    from mtts.text.normalize import explain as read, read_input
    for line in read_input(text, text_file):
        out, spans = read(line)
        print(out)
        if explain and spans:
            table = Table(show_edge=False)
            for col in ("span", "class", "reading"):
                table.add_column(col)
            for sp in spans:
                table.add_row(sp.text, sp.cls, sp.reading)
            console.print(table, highlight=False)


if __name__ == "__main__":
    app()
