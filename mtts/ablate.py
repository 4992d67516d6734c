"""Stage `ablate`: the single-task baseline against multi-task variants, at equal training
steps and over several seeds, with a Markdown report.

Reads  a plan YAML: `base` (overrides applied to every variant, e.g. a smaller model) and
       `variants` (name -> overrides; a `tasks` override replaces the task set, and
       `compare_to` names the variant it is judged against, default the first one),
       the base config, DATA and DUMP as `train` reads them
Writes EXP/<variant>/seed<k>/     a normal training run (config, checkpoint, metrics.jsonl)
       EXP/<variant>/seed<k>/result.json   its final dev metrics and seconds per step
       EXP/results.json, EXP/report.md, EXP/plots/*.png

Finished runs are kept: rerunning the command trains only what is missing, and a run cut
short resumes from its checkpoint.
"""

from __future__ import annotations

import copy
import datetime
import os
import platform
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from mtts.config import Config, read_yaml
from mtts.console import console
from mtts.errors import MttsError
from mtts.io import read_json, write_json, write_text
from mtts.training_plots import read_log
from mtts.validate import config_from_dict, load_config

# columns of the report, in order, where present; lower is better for all of them
COLUMNS = ["mel_l1", "mel_l2", "duration_mae_frames", "f0_rmse_hz", "energy_mae", "g2p_per",
           "lexicon_g2p_per", "recognition_per", "wer", "cer", "s_per_step"]


@dataclass
class Plan:
    base: dict
    variants: dict[str, dict]
    compare_to: dict[str, str]


def merge(a: dict, b: dict) -> dict:
    """Deep merge of config overrides; a `tasks` mapping replaces the task set whole."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "tasks":
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_plan(path: Path) -> Plan:
    data = read_yaml(path, "ablation plan")
    if not isinstance(data, dict) or set(data) - {"base", "variants"}:
        raise MttsError(f"{path}: expected the keys 'base' and 'variants'")
    variants = data.get("variants") or {}
    if not isinstance(variants, dict) or not variants:
        raise MttsError(f"{path}: 'variants' must map names to config overrides")
    first = next(iter(variants))
    compare, over = {}, {}
    for name, v in variants.items():
        v = dict(v or {})
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").replace("+", "").isalnum():
            raise MttsError(f"{path}: variant name {name!r} must be letters, digits, '_', '-' or '+'")
        ref = v.pop("compare_to", first)
        if ref not in variants:
            raise MttsError(f"{path}: variant '{name}' compares to unknown variant '{ref}'")
        compare[name], over[name] = ref, v
    return Plan(data.get("base") or {}, over, compare)


def variant_configs(base: Config, plan: Plan, steps: int) -> dict[str, Config]:
    """Every variant's full config, checked before any training starts."""
    out = {}
    for name, over in plan.variants.items():
        d = merge(merge(base.to_dict(), plan.base), over)
        log_every = max(1, steps // 20)
        # no listening at every checkpoint (train.asr_utts): --asr-utts scores each run once, at its end
        d["train"].update(max_steps=steps, max_minutes=0.0, log_every=log_every,
                          ckpt_every=log_every * 4, keep_checkpoints=1, asr_utts=0)
        try:
            out[name] = config_from_dict(d)
        except MttsError as e:
            raise MttsError(f"variant '{name}': {e}") from None
    return out


def summarize_run(run_dir: Path) -> dict:
    rows = read_log(run_dir / "metrics.jsonl")
    train = [r for r in rows if r["split"] == "train"]
    dev = [r for r in rows if r["split"] == "dev"]
    if not dev:
        raise MttsError(f"{run_dir}: no dev evaluation in metrics.jsonl (the ablation needs a dev split)")
    final = {k: v for k, v in dev[-1].items() if k not in ("split", "step") and not k.startswith("loss_")}
    final["s_per_step"] = statistics.median(r["s_per_step"] for r in train if "s_per_step" in r)
    return {"step": dev[-1]["step"], "metrics": final}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(results: list[dict]) -> dict[str, dict[str, tuple[float, float, int]]]:
    by_variant: dict[str, list[dict]] = {}
    for r in results:
        by_variant.setdefault(r["variant"], []).append(r["metrics"])
    out = {}
    for name, runs in by_variant.items():
        keys = {k for m in runs for k in m}
        out[name] = {k: (*mean_std([m[k] for m in runs if k in m]), sum(k in m for m in runs)) for k in keys}
    return out


def verdict(agg: dict, name: str, ref: str, metric: str) -> tuple[str, float] | None:
    """better / worse when the means differ by more than the two standard deviations
    together, else 'no clear difference'; and the relative change."""
    if metric not in agg[name] or metric not in agg[ref]:
        return None
    (m, s, n), (mr, sr, nr) = agg[name][metric], agg[ref][metric]
    rel = (m - mr) / abs(mr) if mr else 0.0
    if min(n, nr) < 2:
        return "one seed: no verdict", rel
    if m < mr - (s + sr):
        return "better", rel
    if m > mr + (s + sr):
        return "worse", rel
    return "no clear difference", rel


def _curves(run_dirs: dict[str, list[Path]], split: str, key: str) -> dict[str, list[tuple[int, float]]]:
    """Mean over seeds of `key` per step, per variant."""
    out = {}
    for name, dirs in run_dirs.items():
        per_step: dict[int, list[float]] = {}
        for d in dirs:
            for r in read_log(d / "metrics.jsonl"):
                if r["split"] == split and key in r:
                    per_step.setdefault(r["step"], []).append(r[key])
        if per_step:
            out[name] = sorted((s, statistics.fmean(v)) for s, v in per_step.items())
    return out


def make_plots(run_dirs: dict[str, list[Path]], agg: dict, out_dir: Path) -> list[Path]:
    from mtts.evaluate.plots import plt, save_figure
    written = []
    # one colour and line style per variant, the same in every plot (15+ variants outrun one palette)
    style = {n: {"color": plt.cm.tab20(i % 20), "linestyle": ("-", "--", ":")[i // 20 % 3]}
             for i, n in enumerate(run_dirs)}
    keys = [k for k in ("mel_l1", "duration_mae_frames", "f0_rmse_hz", "g2p_per", "recognition_per")
            if _curves(run_dirs, "dev", k)]
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 2.4 * len(keys)), squeeze=False, constrained_layout=True)
    for ax, k in zip(axes[:, 0], keys):
        for name, pts in _curves(run_dirs, "dev", k).items():
            ax.plot(*zip(*pts), marker="o", ms=3, label=name, **style[name])
        ax.set_ylabel(f"dev {k}")
    axes[0, 0].legend(fontsize="x-small", ncol=3)
    axes[-1, 0].set_xlabel("step")
    save_figure(fig, out_dir / "dev_curves.png")
    written.append(out_dir / "dev_curves.png")

    # overfitting: dev minus train mel loss at the steps both were measured
    fig, ax = plt.subplots(figsize=(8, 3.2), constrained_layout=True)
    dev, train = _curves(run_dirs, "dev", "loss_mel"), _curves(run_dirs, "train", "loss_mel")
    for name in dev:
        tr = dict(train.get(name, []))
        pts = [(s, v - tr[s]) for s, v in dev[name] if s in tr]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=name, **style[name])
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("dev − train mel L1")
    ax.legend(fontsize="small", ncol=2)
    save_figure(fig, out_dir / "train_dev_gap.png")
    written.append(out_dir / "train_dev_gap.png")

    names = list(run_dirs)
    cols = min(4, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False, constrained_layout=True)
    logs = {n: [r for r in read_log(run_dirs[n][0] / "metrics.jsonl") if r["split"] == "train"] for n in names}
    tasks = sorted({k[7:] for log in logs.values() for r in log for k in r if k.startswith("weight_")})
    colour = {t: plt.cm.tab10(i % 10) for i, t in enumerate(tasks)}   # a task keeps its colour everywhere
    for ax, name in zip(axes.flat, names):
        for t in tasks:
            pts = [(r["step"], r[f"weight_{t}"]) for r in logs[name]
                   if f"weight_{t}" in r and r[f"weight_{t}"] == r[f"weight_{t}"]]  # NaN: no explicit weights
            if pts:
                ax.plot(*zip(*pts), color=colour[t])
        ax.set_title(name, fontsize="small")
        ax.set_yscale("symlog", linthresh=0.01)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.legend([plt.Line2D([], [], color=colour[t]) for t in tasks], tasks, loc="outside lower center",
               ncol=len(tasks), fontsize="small")
    save_figure(fig, out_dir / "weights.png")
    written.append(out_dir / "weights.png")

    fig, ax = plt.subplots(figsize=(8, 3), constrained_layout=True)
    sps = [agg[n].get("s_per_step", (0.0, 0.0, 0)) for n in names]
    ax.bar(range(len(names)), [m for m, _, _ in sps], yerr=[s for _, s, _ in sps], capsize=3,
           color=[style[n]["color"] for n in names])
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize="small")
    ax.set_ylabel("s / step")
    save_figure(fig, out_dir / "seconds_per_step.png")
    written.append(out_dir / "seconds_per_step.png")
    return written


def _fmt(m: float, s: float, n: int, key: str) -> str:
    if key.endswith("_per") or key in ("wer", "cer"):
        return f"{100 * m:.1f} ± {100 * s:.1f} %"
    return f"{m:.4f} ± {s:.4f}" if n > 1 else f"{m:.4f}"


def render_report(plan: Plan, agg: dict, results: list[dict], info: dict, plots: list[Path], base_dir: Path,
                  metric: str) -> str:
    names = list(plan.variants)
    cols = [k for k in COLUMNS if any(k in agg[n] for n in names if n in agg)]
    lines = ["# Ablation: single-task baseline against multi-task variants", "",
             f"Command: `{info['command']}`", "",
             f"{info['date']}, {info['machine']}; {info['steps']} training steps per run, seeds "
             f"{', '.join(map(str, info['seeds']))}; each cell is the mean ± standard deviation over seeds of the "
             f"final dev-set value (teacher-forced on the dev recordings; WER/CER: pocketsphinx on synthesised "
             f"dev sentences where present). Lower is better everywhere. `s_per_step`: median training time "
             f"per step, evaluation excluded.", "", *([info["note"], ""] if info.get("note") else []),
             "| variant | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for n in names:
        if n not in agg:
            lines.append(f"| {n} | " + " | ".join("not run" for _ in cols) + " |")
            continue
        lines.append(f"| {n} | " + " | ".join(_fmt(*agg[n][k], k) if k in agg[n] else "–" for k in cols) + " |")
    lines += ["", f"## Verdicts on dev {metric}", "",
              "Better or worse: the means differ by more than the two standard deviations added; otherwise "
              "no clear difference.", ""]
    helped, not_helped = [], []
    for n in names:
        ref = plan.compare_to[n]
        if n == ref or n not in agg or ref not in agg:
            continue
        v = verdict(agg, n, ref, metric)
        if v is None:
            continue
        word, rel = v
        lines.append(f"- `{n}` against `{ref}`: {100 * rel:+.1f} % — **{word}**")
        if word == "better":
            helped.append(n)
        elif word != "one seed: no verdict":
            not_helped.append(n)
    lines += ["", f"Helped: {', '.join(f'`{n}`' for n in helped) or 'none'}. "
                  f"Did not help: {', '.join(f'`{n}`' for n in not_helped) or 'none'}.", ""]
    lines += ["## Plots", ""]
    titles = {"dev_curves": "Per-task dev curves (mean over seeds)",
              "train_dev_gap": "Train-vs-dev gap of the mel loss (mean over seeds)",
              "weights": "Task weights over time (first seed)", "seconds_per_step": "Seconds per training step"}
    for p in plots:
        lines += [f"### {titles.get(p.stem, p.stem)}", "", f"![{p.stem}]({os.path.relpath(p, base_dir)})", ""]
    shared = yaml.safe_dump(plan.base, default_flow_style=True).strip()
    lines += ["## Variants", "", "Shared overrides: `" + shared + "`", ""]
    for n in names:
        lines.append(f"- `{n}`: `{yaml.safe_dump(plan.variants[n], default_flow_style=True).strip()}`")
    lines += ["", "## Runs", "", "| variant | seed | steps | minutes |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['variant']} | {r['seed']} | {r['step']} | {r['minutes']:.1f} |")
    return "\n".join(lines) + "\n"


def ablate(config: Path | None, plan_path: Path, data_dir: Path, dump_dir: Path, exp_dir: Path, steps: int,
           n_seeds: int, only: list[str] | None = None, asr_utts: int = 0, nj: int = 2,
           report: Path | None = None, metric: str = "mel_l1", command: str = "mtts ablate",
           note: str | None = None) -> dict:
    from mtts.train import train
    if steps < 1 or n_seeds < 1:
        raise MttsError(f"--steps and --seeds must be >= 1, got {steps} and {n_seeds}")
    base = load_config(config)
    plan = load_plan(plan_path)
    if only:
        unknown = [n for n in only if n not in plan.variants]
        if unknown:
            raise MttsError(f"--only names unknown variant(s) {', '.join(unknown)} "
                            f"(plan has {', '.join(plan.variants)})")
    configs = variant_configs(base, plan, steps)
    seeds = [base.train.seed + i for i in range(n_seeds)]
    todo = [n for n in plan.variants if not only or n in only]
    results = []
    for i, name in enumerate(todo):
        for seed in seeds:
            run_dir = exp_dir / name / f"seed{seed}"
            done = run_dir / "result.json"
            if done.is_file():
                res = read_json(done)
                if res.get("steps_planned") == steps:
                    results.append(res)
                    continue
                raise MttsError(f"{run_dir} ran {res.get('steps_planned')} steps, not {steps}: use another --exp-dir")
            console.rule(f"[bold]ablation {name} (seed {seed}) — variant {i + 1}/{len(todo)}")
            cfg = copy.deepcopy(configs[name])
            cfg.train.seed = seed
            resume = any((run_dir / "checkpoints").glob("step_*.pt"))
            summary = train(cfg, data_dir, dump_dir, run_dir, resume=resume)
            if summary["stopped_by"] != "max_steps":   # interrupted: not a result; a rerun continues it
                raise MttsError(f"{run_dir} stopped by {summary['stopped_by']} at step {summary['step']} of "
                                f"{steps}: run the same `mtts ablate` again to continue")
            res = {"variant": name, "seed": seed, "steps_planned": steps, "minutes": summary["minutes"],
                   **summarize_run(run_dir)}
            if asr_utts:
                from mtts.evaluate import evaluate_checkpoint
                m = evaluate_checkpoint(Path(summary["checkpoint"]), data_dir / "dev", run_dir / "eval",
                                        ("asr",), nj, asr_utts)["metrics"]
                res["metrics"].update({k: m[k] for k in ("wer", "cer") if k in m})
            write_json(done, res)
            results.append(res)
    # the report covers every finished run of the plan, also those of earlier invocations
    for name in plan.variants:
        for seed in seeds:
            p = exp_dir / name / f"seed{seed}" / "result.json"
            if p.is_file() and not any(r["variant"] == name and r["seed"] == seed for r in results):
                results.append(read_json(p))
    order = {n: i for i, n in enumerate(plan.variants)}
    results.sort(key=lambda r: (order[r["variant"]], r["seed"]))
    agg = aggregate(results)
    run_dirs = {n: [exp_dir / n / f"seed{r['seed']}" for r in results if r["variant"] == n]
                for n in plan.variants if n in agg}
    plots = make_plots(run_dirs, agg, exp_dir / "plots")
    info = {"command": command, "date": datetime.date.today().isoformat(), "steps": steps, "seeds": seeds,
            "note": note,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads"}
    stats = {n: {k: {"mean": m, "std": s, "n": c} for k, (m, s, c) in v.items()} for n, v in agg.items()}
    write_json(exp_dir / "results.json", {"info": info, "runs": results, "aggregate": stats})
    write_text(exp_dir / "report.md", render_report(plan, agg, results, info, plots, exp_dir, metric))
    if report is not None:  # a copy elsewhere (docs/), its plots beside it
        fig_dir = report.parent / f"{report.stem}_plots"
        fig_dir.mkdir(parents=True, exist_ok=True)
        copies = []
        for p in plots:
            shutil.copyfile(p, fig_dir / p.name)
            copies.append(fig_dir / p.name)
        write_text(report, render_report(plan, agg, results, info, copies, report.parent, metric))
    return {"runs": len(results), "variants": len(agg), "report": str(report or exp_dir / "report.md")}
