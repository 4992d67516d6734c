"""Stage `train`: the training loop, written out.

Reads  DATA/{train,dev}/{phones,feats.scp}, DUMP/{tokens.txt,stats.json,feature_params.json},
       DATA/{train,dev}/norm_text and DUMP/chars.txt for a character input or the g2p task,
       DUMP/lexicon/ for a lexicon in data.mix, DATA/train/spk2id and DATA/{train,dev}/utt2spk
       for a multi-speaker corpus
Writes EXP/config.yaml, EXP/checkpoints/step_*.pt, EXP/metrics.jsonl (one JSON per log
       line, train and dev), EXP/tb/ (TensorBoard), EXP/train.log, and EXP/init.json when
       it starts from a trained model (train.init_from, mtts/adapt.py)

On one device (`device`: cpu, cuda, auto), or in several processes started by torchrun
(docs/scaling.md): each takes its share of every global batch of `train.batch_frames`
frames, its losses are normalised by the global batch's counts, and the network's gradients
are summed over the processes by one all-reduce per step (by hand rather than through
DistributedDataParallel, because gradient methods read per-task Jacobians before any sum),
so every process takes the same step, the one a single process takes on the whole batch.
Only rank 0 writes.
"""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

import torch
from torch.optim.lr_scheduler import LambdaLR

from mtts import adapt, checkpoint, distributed
from mtts.config import Config, dump_config
from mtts.console import console
from mtts.data.datadir import read_spk2id
from mtts.data.dataset import Stats, TTSDataset, collate, to_device
from mtts.data.lexicon import LexiconDataset, collate_text
from mtts.data.mixing import CORPUS, BatchMixer, Source
from mtts.data.tokenize import text_config
from mtts.errors import MttsError
from mtts.evaluate.tasks import evaluate_loss
from mtts.features.audio import FeatureParams
from mtts.io import read_json, rng_state, seed_everything, set_rng_state, write_json, write_text
from mtts.model import MultiTaskModel, component_seed
from mtts.mtl import METHODS, WeightingMethod
from mtts.precision import autocast
from mtts.run import Run
from mtts.tasks.base import global_denominators
from mtts.text.tokens import TokenTable


def build_method(cfg: Config, model: MultiTaskModel):
    """The weighting method of the config, bound to the model's shared encoder."""
    weights = {k: float(v.get("weight", 1.0)) for k, v in cfg.tasks.items()}
    try:
        method = METHODS[cfg.mtl.method](weights, **cfg.mtl.options)
    except TypeError as e:
        raise MttsError(f"mtl.options do not fit method '{cfg.mtl.method}': {e}") from None
    method.bind(model)
    return method


def lr_lambda(cfg: Config):
    warm, total = max(1, cfg.train.warmup_steps), max(1, cfg.train.max_steps)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.05, 1.0 - (step - warm) / max(1, total - warm))  # linear decay to 5 %
    return f


def build_optimizer(cfg: Config, model: MultiTaskModel, method: WeightingMethod) -> tuple[torch.optim.Adam, LambdaLR]:
    """Adam over the model under the warm-up/decay schedule and, in a group of their own, the
    method's learnt weights at the constant `mtl.weight_lr` (config.py says why)."""
    groups, schedules = [{"params": list(model.parameters())}], [lr_lambda(cfg)]
    learnt = [p for p in method.parameters() if p.requires_grad]   # FAMO steps its logits itself
    if learnt:
        groups.append({"params": learnt, "lr": cfg.mtl.weight_lr})
        schedules.append(lambda step: 1.0)
    opt = torch.optim.Adam(groups, lr=cfg.train.lr, betas=(0.9, 0.98), eps=1e-9)
    return opt, LambdaLR(opt, schedules)


def gradient_stats(model: MultiTaskModel, losses: dict[str, torch.Tensor],
                   shared: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per-task gradient norms at the shared encoder output each task reaches the encoder
    through (h; h_chars for g2p) and the pairwise cosines of tasks at the same output: how
    strongly, and in which agreement, the tasks pull the shared representation. Gradients
    at h and at h_chars are of different tensors, so they have no cosine. Over the global
    batch: squared norms and dot products are sums over the processes' shares."""
    out = {}
    for output, tasks in model.encoder_tasks().items():
        # a frozen encoder's output (train.freeze) has no gradient to measure
        names = [k for k in tasks if k in losses and output in shared and shared[output].requires_grad]
        if not names:
            continue
        grads = {k: torch.autograd.grad(losses[k], shared[output], retain_graph=True)[0].flatten().float()
                 for k in names}
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
        sums = distributed.all_sum(torch.stack([grads[k] @ grads[k] for k in names]
                                               + [grads[a] @ grads[b] for a, b in pairs])).tolist()
        norms = {k: sums[i] ** 0.5 for i, k in enumerate(names)}
        out.update({f"gradnorm_{k}": v for k, v in norms.items()})
        for (a, b), dot in zip(pairs, sums[len(names):]):
            out[f"cos_{a}_{b}"] = dot / max(norms[a] * norms[b], 1e-8)   # cosine_similarity's eps
    return out


def same_batch_losses(model: MultiTaskModel, batch: dict, precision: str, active: bool = True
                      ) -> dict[str, torch.Tensor]:
    """The batch's losses recomputed without gradients (after the optimiser's step)."""
    device = next(model.parameters()).device.type
    with torch.no_grad(), autocast(precision, device), global_denominators(share_count(active)):
        return share_losses(model(batch)["losses"], active)


def share_count(active: bool):
    """A loss denominator over the global batch: the sum of the processes' counts (a stand-in
    share counts none). The identity in a single process."""
    if distributed.world() == 1:
        return lambda c: c
    return lambda c: distributed.all_sum(c.float() * float(active)).to(c.dtype)


def share_losses(losses: dict[str, torch.Tensor], active: bool) -> dict[str, torch.Tensor]:
    """A stand-in share's losses count zero (with their graph, so every process backpropagates)."""
    return losses if active else {k: v * 0.0 for k, v in losses.items()}


def rank_seed(seed: int, rank: int) -> int:
    """The global RNG's seed on one process: the run's seed on rank 0 (a single process is
    unchanged), another per rank, so that dropout masks differ between the shares."""
    return seed if rank == 0 else component_seed(seed, f"rank{rank}") % 2**32


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc; 0 elsewhere): logged to catch leaks."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc's malloc_trim; a no-op elsewhere).

    Every frame-batched step has new tensor shapes; glibc keeps the freed blocks of the old
    ones in its heap, so resident memory climbs for hours although nothing leaks
    (benchmarks/train_memory.py)."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


_libc = None
TRIM_EVERY = 10   # steps; every step was 11 % slower on synthetic batches, every 10 within noise (docs/training.md)


def train(cfg: Config, data_dir: Path, dump_dir: Path, exp_dir: Path, resume: bool = False,
          max_utts: int = 0, utts: list[str] | None = None, device: str = "cpu", timeout_s: float = 1800.0) -> dict:
    """utts: train on these utterances of DATA/train only (the ablation's data sizes);
    device: cpu, cuda or auto; timeout_s: how long a process waits for the others (torchrun)."""
    where = distributed.resolve_device(device)
    distributed.start(where, timeout_s)
    try:   # a collective with a dead or silent peer raises MttsError (distributed.collective)
        return _train(cfg, data_dir, dump_dir, exp_dir, resume, max_utts, utts, where)
    finally:
        distributed.stop()


def _train(cfg: Config, data_dir: Path, dump_dir: Path, exp_dir: Path, resume: bool, max_utts: int,
           utts: list[str] | None, device: torch.device) -> dict:
    rank, world = distributed.rank(), distributed.world()
    main = rank == 0

    def agree(signal: bool, elapsed: float) -> tuple[bool, float]:   # stop together: any signal, the slowest clock
        s, t = distributed.all_max(torch.tensor([float(signal), elapsed], dtype=torch.float64, device=device)).tolist()
        return bool(s), t

    # first: Run locks EXP (EXP/.lock) before anything is read, so a second run stops at once
    run = Run(exp_dir, cfg.train.max_steps, cfg.train.max_minutes, cfg.train.keep_checkpoints, main,
              agree if world > 1 else None)
    tokens = TokenTable.load(dump_dir / "tokens.txt")
    stats_d = read_json(dump_dir / "stats.json")
    params = FeatureParams.from_dict(read_json(dump_dir / "feature_params.json"))
    stats = Stats(stats_d)
    text_cfg = text_config(dump_dir)
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    seed_everything(rank_seed(cfg.train.seed, rank))
    by_chars = cfg.data.input == "chars"
    chars = TokenTable.load(dump_dir / "chars.txt") if "g2p" in cfg.tasks or by_chars else None
    speakers = read_spk2id(data_dir / "train")   # None: one speaker, no speaker table
    source = adapt.source(cfg, run, tokens, chars, params)   # --init-from: checked before any data is read
    stats_d = adapt.statistics(exp_dir, source, stats_d)   # an adaptation normalises as its source did
    stats = Stats(stats_d)
    train_set = TTSDataset(data_dir / "train", tokens, stats, max_utts, chars, cfg.data.input, utts, cfg.data.load,
                           speakers=speakers)
    dev_set = (TTSDataset(data_dir / "dev", tokens, stats, 0, chars, cfg.data.input, load=cfg.data.load,
                          speakers=speakers)
               if (data_dir / "dev" / "phones").is_file() else None)
    sources = {CORPUS: Source(train_set, cfg.train.batch_frames, collate)}
    lex_dev = None
    if cfg.data.mix.get("lexicon", 0) > 0:
        sources["lexicon"] = Source(LexiconDataset(dump_dir / "lexicon" / "train.tsv", tokens, chars, by_chars),
                                    cfg.data.lexicon_batch_chars, collate_text)
        if (dump_dir / "lexicon" / "dev.tsv").is_file():
            lex_dev = LexiconDataset(dump_dir / "lexicon" / "dev.tsv", tokens, chars, by_chars)
    mixer = BatchMixer(sources, cfg.data.mix, cfg.train.seed, rank, world)   # train.batch_frames: the global batch

    model = MultiTaskModel(cfg, len(tokens), params.n_mels, (stats_d["pitch_mean"], stats_d["pitch_std"]),
                           len(chars) if chars else 0, len(speakers or {}))
    init = adapt.start(cfg, run, model, source, speakers)   # --init-from, train.freeze
    model.to(device)
    method = build_method(cfg, model)
    method.to(device)
    opt, sched = build_optimizer(cfg, model, method)

    listen = None   # built before anything is written: it fails when pocketsphinx is missing
    if cfg.train.asr_utts > 0 and dev_set is not None and main:
        from mtts.evaluate.listen import FreeRunning
        from mtts.text.phonemize import Phonemizer
        listen = FreeRunning(data_dir / "dev", cfg.train.asr_utts, tokens, stats, params, text_cfg["normalizer"],
                             chars, Phonemizer(cache_path=dump_dir / "phonemize_cache.json"), speakers)
    ck = run.resume(resume, checkpoint.load)
    if ck is not None:
        adapt.check_resumed(cfg, ck, run.path())
        if ck["tokens"] != tokens.symbols or ck.get("chars") != (chars.symbols if chars else None):
            raise MttsError(f"{run.path()} was trained with another token table; use a new --exp-dir")
        if ck.get("speakers") != speakers:
            raise MttsError(f"{run.path()} was trained with other speakers (spk2id); use a new --exp-dir")
        model.load_state_dict(ck["model"])
        method.load_state_dict(ck["method"])
        if len(ck["optimizer"]["param_groups"]) != len(opt.param_groups):   # weights in the model's group
            raise MttsError(f"{run.path()} is from an mtts before learnt weights had their own learning rate; "
                            "use a new --exp-dir")
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        mixer.load_state_dict(ck.get("cursors") or {"corpus": [ck["epoch"], ck["batch_in_epoch"]]})
        # each process its own RNG state; one that the saving run did not have (a larger
        # world) starts from its seed: exact resume needs the same number of processes only
        # where something random is drawn per process (dropout)
        saved = ck.get("rng_ranks") or [ck["rng"]]
        if rank < len(saved):
            set_rng_state(saved[rank])

    tb = None
    if main:
        write_text(exp_dir / "config.yaml", dump_config(cfg))
        if init is not None:
            write_json(exp_dir / "init.json", init)
        from torch.utils.tensorboard import SummaryWriter  # heavy import, only when training
        tb = SummaryWriter(str(exp_dir / "tb"), purge_step=run.step + 1 if run.step else None)
    saved_at = [-1]   # the step of the last checkpoint; every process knows it, none asks the disk

    def save_ckpt() -> Path:
        states = distributed.gather(rng_state())   # a collective: every process saves at the same step
        saved_at[0] = run.step
        return run.save({
            "model": model.state_dict(), "method": method.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "epoch": mixer.cursors[CORPUS][0],
            "batch_in_epoch": mixer.cursors[CORPUS][1], "cursors": mixer.state_dict(), "rng": states[0],
            **({"rng_ranks": states, "world": world} if world > 1 else {}),
            "config": cfg.to_dict(), "tokens": tokens.symbols, "feature_params": params.to_dict(),
            "text": text_cfg, "chars": chars.symbols if chars else None,
            "stats": stats_d, "speakers": speakers})

    def log(record: dict) -> None:
        run.log(record)
        for k, v in record.items():
            if isinstance(v, (int, float)) and k != "step":
                tb.add_scalar(f"{record['split']}/{k}", v, run.step)

    n_params = sum(p.numel() for p in model.parameters())
    if main:
        console.print(f"model: {n_params / 1e6:.2f} M parameters; tasks: {', '.join(model.tasks)}; "
                      f"method: {cfg.mtl.method}; {len(train_set)} train utterances; {device.type}"
                      + (f", {world} processes" if world > 1 else ""))
    network = [p for p in model.parameters() if p.requires_grad]   # train.freeze's parameters have no gradient
    model.train()
    # since the last log line: corpus frames and time (frames/s), every batch's time per step (s/step),
    # loss sums and counts per task, extra batches per dataset
    frames_acc, acc, counts, weights, extra, step_time, corpus_time = 0, {}, {}, {}, {}, 0.0, 0.0

    def dev_record() -> dict:
        rec = {"split": "dev", "step": run.step, **evaluate_loss(model, dev_set, cfg.train.batch_frames)}
        if listen is not None and run.stopped_by != "signal":   # what a listener gets (not while asked to stop)
            rec.update(listen(model))
        if lex_dev is not None:  # held-out words: G2P on its own dataset
            rec.update({f"lexicon_{k}": v for k, v in evaluate_loss(
                model, lex_dev, cfg.data.lexicon_batch_chars, collate_text, "chars_lens").items()})
        return rec

    with run:
        batches: list = []   # what is left of this step's batches: the extra ones first, the corpus batch last
        while batches or not run.done():   # a started step is finished, so no checkpoint falls inside one
            t_step = time.time()
            if not batches:
                batches = mixer.shares(run.step)
            source, batch, active = batches.pop(0)
            batch = to_device(batch, device)
            with autocast(cfg.train.precision, device.type), global_denominators(share_count(active)):
                out = model(batch)
            out["losses"] = share_losses(out["losses"], active)
            opt.zero_grad(set_to_none=True)
            gstats = (gradient_stats(model, out["losses"], out["shared"])
                      if source == CORPUS and (run.step + 1) % cfg.train.log_every == 0 else {})
            weights.update(method.backward(out["losses"], out["shared"]))
            if world > 1:   # the global batch's gradient, but where the method made it global already
                done = {id(p) for p in method.reduced}
                distributed.sum_grads([p for p in network if id(p) not in done])
            # the network's gradients only: a learnt weight's step must not shrink with their norm
            gnorm = torch.nn.utils.clip_grad_norm_(network, cfg.train.grad_clip)
            if not torch.isfinite(gnorm):
                raise MttsError(f"non-finite gradient at step {run.step}; lower train.lr")
            opt.step()
            method.after_step(lambda: same_batch_losses(model, batch, cfg.train.precision, active))   # FAMO's
            # the global batch's losses and frames (one all-reduce): what the log shows
            glob = distributed.all_sum(torch.stack([*(v.detach().float() for v in out["losses"].values()),
                                                    (batch["feats_lens"].sum() * float(active)).float()
                                                    if "feats_lens" in batch else torch.zeros((), device=device)]))
            glob = glob.tolist()
            for k, v in zip(out["losses"], glob):  # a task's mean over the batches that trained it
                acc[k] = acc.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1
            dt = time.time() - t_step   # training alone: no dev evaluation, no saving
            step_time += dt
            if source != CORPUS:
                # an extra batch is an optimiser step of its own (a method sees one dataset per
                # backward); the schedule, the budget and the cadence follow corpus steps
                extra[source] = extra.get(source, 0) + 1
                continue
            sched.step()
            run.advance()
            frames_acc += int(glob[-1])
            corpus_time += dt
            if run.step % cfg.train.log_every == 0 and main:
                means = {k: v / counts[k] for k, v in acc.items()}
                epoch = mixer.cursors[CORPUS][0]
                log({"split": "train", "step": run.step, "epoch": epoch,
                     **{f"loss_{k}": v for k, v in means.items()},
                     **{f"weight_{k}": v for k, v in weights.items()}, **gstats,
                     **{f"batches_{k}": v for k, v in extra.items()},
                     "lr": sched.get_last_lr()[0], "grad_norm": float(gnorm), "frames": frames_acc,
                     "frames_per_s": frames_acc / max(corpus_time, 1e-9), "s_per_step": step_time / cfg.train.log_every,
                     "rss_mb": rss_mb(), "elapsed_s": run.elapsed})
                console.print(f"step {run.step:6d} ep {epoch:3d} "
                              + " ".join(f"{k}={v:.3f}" for k, v in means.items())
                              + f" | {frames_acc / max(corpus_time, 1e-9):,.0f} fr/s {run.elapsed / 60:.1f} min")
            if run.step % cfg.train.log_every == 0:
                frames_acc, acc, counts, extra, step_time, corpus_time = 0, {}, {}, {}, 0.0, 0.0
            if run.step % TRIM_EVERY == 0:   # after the log line, so rss_mb shows the untrimmed heap
                trim_heap()
            if run.due(cfg.train.ckpt_every):
                if dev_set is not None and main:   # rank 0 alone; the others wait in save_ckpt's gather
                    log(dev_record())
                save_ckpt()
        # not saved at this step by this run: the file exists only when resumed from it, on every process alike
        if saved_at[0] != run.step and not run.path().is_file():
            if dev_set is not None and main:
                log(dev_record())
            save_ckpt()
    if tb is not None:
        tb.close()
    return {**run.summary(), "epoch": mixer.cursors[CORPUS][0], "device": device.type,
            **({"init_from": cfg.train.init_from} if cfg.train.init_from else {})}
