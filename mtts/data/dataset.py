"""Training data: utterances in memory (or read from disk when they do not fit), padding
collate, batches filled by frame count.

Batch keys: `ids`, `text` (B, N) the encoder's input ids between <bos> and <eos> when the
table has them: phonemes, or with `input="chars"` the lower-cased normalised text's
characters; `text_lens` (B,), `feats` (B, T, n_mels) normalised log-mel, `feats_lens` (B,),
`pitch` (B, T) Hz with 0 = unvoiced, `energy` (B, T) normalised; with a character table
also `chars`, `chars_lens` (for a character input the same ids as `text`) and the G2P
targets `phones`, `phones_lens` (the phoneme ids without boundary tokens); for a
multi-speaker model `speaker` (B,), each utterance's speaker index (DATA/<set>/utt2spk through
the model's spk2id).
"""

from __future__ import annotations

import os
import random
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mtts.config import LOADS
from mtts.data.datadir import read_table
from mtts.errors import MttsError
from mtts.text.tokens import TokenTable


def normalisation(d: dict) -> dict:
    """The statistics that decide how features are normalised: all but the postfilter's
    `mel_gv`, which a newer `mtts prepare` adds to the same data's statistics."""
    return {k: v for k, v in d.items() if k != "mel_gv"}


class Stats:
    """Train-set statistics used to normalise features (and undo it at synthesis)."""

    def __init__(self, d: dict):
        self.d = d
        self.mel_mean = torch.tensor(d["mel_mean"], dtype=torch.float32)
        self.mel_std = torch.tensor(d["mel_std"], dtype=torch.float32)
        # absent in statistics written before the postfilter existed: then it is off
        self.mel_gv = np.asarray(d["mel_gv"], dtype=np.float32) if "mel_gv" in d else None

    def norm_mel(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.mel_mean) / self.mel_std

    def denorm_mel(self, mel: torch.Tensor) -> torch.Tensor:
        return mel * self.mel_std + self.mel_mean


def node_share() -> int:
    """What one process may hold in memory: half the memory available now, shared among the
    training processes torchrun started on this node (each would otherwise claim it all)."""
    return available_memory() // 2 // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def available_memory() -> int:
    """Bytes the kernel says can be allocated without swapping (MemAvailable), else all RAM."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def npz_frames(path: Path) -> int:
    """The mel's frame count from its header in the .npz, without reading the array."""
    try:
        with zipfile.ZipFile(path) as z, z.open("mel.npy") as f:
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}[np.lib.format.read_magic(f)]
            shape = read(f)[0]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise MttsError(f"{path}: not a feature file of `mtts prepare` ({e}); rerun prepare") from None
    return int(shape[0])


class TTSDataset(Dataset):
    def __init__(self, split_dir: Path, tokens: TokenTable, stats: Stats, max_utts: int = 0,
                 chars: TokenTable | None = None, input: str = "phones", only: list[str] | None = None,
                 load: str = "auto", memory_budget: int | None = None, speakers: dict[str, int] | None = None):
        """tokens: the phoneme table; chars: the character table, the encoder's input table
        when `input` is "chars"; only: these utterances of the split (e.g. a training-data size
        of the ablation). load: "memory" reads every feature file once, "stream" reads each
        utterance's when it is batched (a corpus bigger than RAM), "auto" streams when the
        feature files add up to more than `memory_budget` bytes (default: half of the memory
        available now, divided among torchrun's processes on this node), so a big corpus
        does not fail hours in, when memory runs out.
        speakers: a multi-speaker model's speaker -> index (its spk2id), read for every
        utterance from the split's utt2spk."""
        if load not in LOADS:
            raise MttsError(f"data load must be one of {', '.join(LOADS)}, got {load!r}")
        if input == "chars" and chars is None:
            raise MttsError("a character input needs the character table (DUMP/chars.txt)")
        phones = read_table(split_dir / "phones")
        norm = read_table(split_dir / "norm_text") if chars is not None else {}
        feats = read_table(split_dir / "feats.scp")
        ids = sorted(set(phones) & set(feats) & (set(norm) if chars is not None else set(feats)))
        if only is not None:
            missing = sorted(set(only) - set(ids))
            if missing:
                raise MttsError(f"{split_dir} has no phones or features for {', '.join(missing[:3])}"
                                + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))
            ids = sorted(set(only))
        if max_utts:
            ids = ids[:max_utts]
        if not ids:
            what = "phones, norm_text" if chars is not None else "phones"
            raise MttsError(f"{split_dir} has no utterances with {what} and features")
        self.ids = ids
        utt2spk = read_table(split_dir / "utt2spk") if speakers is not None else {}
        self.speakers = {i: utt2spk.get(i, "") for i in ids} if speakers is not None else {}
        for i, spk in self.speakers.items():
            if spk not in speakers:
                raise MttsError(f"{split_dir / 'utt2spk'}: speaker {spk!r} of '{i}' is not one the model knows "
                                f"(known: {', '.join(speakers)})")
        self.stats = stats
        paths = [Path(feats[i]) for i in ids]
        for i, path in zip(ids, paths):
            if not path.is_file():
                raise MttsError(f"{split_dir / 'feats.scp'}: {path} for '{i}' does not exist; rerun prepare")
        if load == "auto":
            budget = memory_budget if memory_budget is not None else node_share()
            load = "stream" if sum(p.stat().st_size for p in paths) > budget else "memory"
        self.streaming = load == "stream"
        self.items = []
        self.lengths = []
        for i, path in zip(ids, paths):
            if self.streaming:
                acoustic = {"path": path}
                self.lengths.append(npz_frames(path))
            else:
                acoustic = self._features(path)
                self.lengths.append(acoustic["feats"].shape[0])
            phone_ids = torch.tensor(tokens.encode(phones[i]), dtype=torch.long)
            if input == "chars":   # what the encoder reads, wrapped like phonemes; G2P reads the same
                text = torch.tensor(chars.encode_utterance(norm[i].lower()), dtype=torch.long)
                char_ids = text
            else:
                text = torch.tensor(tokens.wrap(phone_ids.tolist()), dtype=torch.long)
                char_ids = torch.tensor(chars.encode(norm[i].lower()), dtype=torch.long) if chars else None
            item = {"id": i, "text": text, **acoustic}
            if chars is not None:   # for G2P: characters, and the phonemes without the boundary tokens
                item["chars"], item["phones"] = char_ids, phone_ids
            if speakers is not None:
                item["speaker"] = speakers[self.speakers[i]]
            self.items.append(item)

    def _features(self, path: Path) -> dict:
        """Normalised mel and energy, pitch in Hz, of one feature file."""
        with np.load(path) as z:
            mel = self.stats.norm_mel(torch.from_numpy(z["mel"]))
            energy = (torch.from_numpy(z["energy"]) - self.stats.d["energy_mean"]) / self.stats.d["energy_std"]
            pitch = torch.from_numpy(z["pitch"])
        return {"feats": mel, "pitch": pitch, "energy": energy}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        item = self.items[i]
        if not self.streaming:
            return item
        out = {k: v for k, v in item.items() if k != "path"}
        out.update(self._features(item["path"]))
        return out


def to_device(batch: dict, device: torch.device) -> dict:
    """A batch's tensors on `device` (ids and other lists stay as they are)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def pad(seqs: list[torch.Tensor]) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True)


def collate(items: list[dict]) -> dict:
    batch = {
        "ids": [it["id"] for it in items],
        "text": pad([it["text"] for it in items]),
        "text_lens": torch.tensor([len(it["text"]) for it in items]),
        "feats": pad([it["feats"] for it in items]),
        "feats_lens": torch.tensor([it["feats"].shape[0] for it in items]),
        "pitch": pad([it["pitch"] for it in items]),
        "energy": pad([it["energy"] for it in items]),
    }
    if "chars" in items[0]:
        batch["chars"] = pad([it["chars"] for it in items])
        batch["chars_lens"] = torch.tensor([len(it["chars"]) for it in items])
        batch["phones"] = pad([it["phones"] for it in items])
        batch["phones_lens"] = torch.tensor([len(it["phones"]) for it in items])
    if "speaker" in items[0]:
        batch["speaker"] = torch.tensor([it["speaker"] for it in items])   # (B,)
    return batch


def frame_batches(lengths: list[int], max_frames: int, seed: int, epoch: int,
                  shuffle: bool = True) -> list[list[int]]:
    """Group indices of similar length into batches of at most `max_frames` padded frames.

    Deterministic in (seed, epoch), so a resumed run replays the same batches.
    """
    rng = random.Random(seed * 100_003 + epoch)
    # sort by length with a little noise so batches differ between epochs
    keyed = sorted(range(len(lengths)), key=lambda i: lengths[i] * (1 + 0.1 * rng.random()) if shuffle else lengths[i])
    batches, cur, cur_max = [], [], 0
    for i in keyed:
        new_max = max(cur_max, lengths[i])
        if cur and new_max * (len(cur) + 1) > max_frames:
            batches.append(cur)
            cur, new_max = [], lengths[i]
        cur.append(i)
        cur_max = new_max
    if cur:
        batches.append(cur)
    if shuffle:
        rng.shuffle(batches)
    return batches


def rank_share(batch: list[int], rank: int, world: int) -> tuple[list[int], bool]:
    """Process `rank`'s share of a global batch of `world` processes: every world-th index from
    the rank-th. The batch is sorted by length, so the shares are about equal in frames, and
    they are disjoint and cover it. A process left without an utterance (a batch smaller than
    the world) gets the batch's first one as a stand-in, with False: its losses count zero."""
    share = batch[rank::world]
    return (share, True) if share else (batch[:1], False)
