"""Kaldi-style data directories: `wav.scp`, `text`, `utt2spk`, `spk2utt`, `utt2dur`, and in
a multi-speaker corpus `spk2id` (speaker -> the model's speaker index, the same in every split
of the corpus).

One record per line keyed by utterance id, sorted, ids unique. Later stages add files
with the same keys (`phones`, `feats.scp`). `validate_datadir` checks Kaldi's
validate_data_dir.sh rules that matter here: ids valid, unique and sorted (C order) in every
file, the same ids in every file, spk2utt the inverse of utt2spk, durations positive, and
spk2id (when present) numbering its speakers 0..n-1 and naming every speaker of utt2spk.
"""

from __future__ import annotations

import math
from pathlib import Path

from mtts.errors import MttsError
from mtts.io import check_id, write_lines


def write_table(path: Path, table: dict[str, str]) -> None:
    write_lines(path, [f"{k} {v}" for k, v in sorted(table.items())])


def read_table(path: Path) -> dict[str, str]:
    """Read `<key> <value>` lines; the value may contain spaces (or be empty)."""
    if not path.is_file():
        raise MttsError(f"{path} does not exist: run the earlier stage first")
    table: dict[str, str] = {}
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise MttsError(f"{path}:{line}: not UTF-8 text") from None
    for n, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        key, _, value = line.partition(" ")
        check_id(key, f"{path}:{n}")
        if key in table:
            raise MttsError(f"{path}:{n}: duplicate id '{key}'")
        table[key] = value
    return table


def write_datadir(path: Path, wavs: dict[str, str], texts: dict[str, str],
                  spk: dict[str, str], durs: dict[str, float], spk2id: dict[str, int] | None = None) -> None:
    """spk2id: the corpus' speaker numbering, written only for a multi-speaker corpus (a
    single-speaker data dir stays as it always was, and its model has no speaker table)."""
    for utt, s in spk.items():
        check_id(utt, f"{path / 'utt2spk'}")
        check_id(s, f"{path / 'utt2spk'}: speaker of '{utt}'")
    write_table(path / "wav.scp", wavs)
    write_table(path / "text", texts)
    write_table(path / "utt2spk", spk)
    write_table(path / "utt2dur", {k: f"{v:.3f}" for k, v in durs.items()})
    spk2utt: dict[str, list[str]] = {}
    for utt, s in sorted(spk.items()):
        spk2utt.setdefault(s, []).append(utt)
    write_table(path / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})
    if spk2id is not None:
        write_lines(path / "spk2id", [f"{s} {i}" for s, i in sorted(spk2id.items())])
    else:
        (path / "spk2id").unlink(missing_ok=True)   # left by an earlier multi-speaker prepare


def speaker_ids(speakers: list[str]) -> dict[str, int] | None:
    """The speaker numbering of a corpus: its speakers in C order -> 0..n-1; None for one speaker."""
    names = sorted(set(speakers))
    return {s: i for i, s in enumerate(names)} if len(names) > 1 else None


def read_spk2id(path: Path) -> dict[str, int] | None:
    """DIR/spk2id as speaker -> index, checked: None when the data dir has none (one speaker)."""
    f = path / "spk2id"
    if not f.is_file():
        return None
    out: dict[str, int] = {}
    for n, (spk, value) in enumerate(read_table(f).items(), 1):
        if not value.strip().isdigit():
            raise MttsError(f"{f}:{n}: speaker '{spk}' has index {value!r}, not a number >= 0")
        out[spk] = int(value)
    if sorted(out.values()) != list(range(len(out))):
        raise MttsError(f"{f}: indices must be 0..{len(out) - 1}, each once, got {sorted(out.values())[:8]}")
    return out


def _sorted_table(path: Path) -> dict[str, str]:
    table = read_table(path)
    keys = list(table)
    for a, b in zip(keys, keys[1:]):
        if a > b:
            raise MttsError(f"{path}: not sorted: '{b}' comes after '{a}' (sort it with LC_ALL=C sort)")
    return table


def validate_datadir(path: Path) -> list[str]:
    """Kaldi's validate_data_dir in short (see the module docstring). Returns the ids."""
    wavs = _sorted_table(path / "wav.scp")
    tables = {name: _sorted_table(path / name) for name in ("text", "utt2spk", "utt2dur", "feats.scp")}
    for name, other in tables.items():
        if set(other) != set(wavs):
            missing = sorted(set(wavs) ^ set(other))[:3]
            raise MttsError(f"{path / name}: ids differ from wav.scp (e.g. {', '.join(missing)})")
    for name in ("wav.scp", "utt2spk", "feats.scp"):
        for utt, value in (wavs if name == "wav.scp" else tables[name]).items():
            if not value.strip():
                raise MttsError(f"{path / name}: '{utt}' has no value")
    for utt, dur in tables["utt2dur"].items():
        try:
            if not (math.isfinite(float(dur)) and float(dur) > 0):
                raise ValueError
        except ValueError:
            raise MttsError(f"{path / 'utt2dur'}: '{utt}' has a bad duration {dur!r}") from None
    for n, (utt, spk) in enumerate(tables["utt2spk"].items(), 1):
        check_id(spk, f"{path / 'utt2spk'}:{n}: speaker of '{utt}'")
    spk2utt = _sorted_table(path / "spk2utt")
    inverse: dict[str, list[str]] = {}
    for utt, spk in tables["utt2spk"].items():
        inverse.setdefault(spk, []).append(utt)
    if {s: sorted(u) for s, u in inverse.items()} != {s: sorted(u.split()) for s, u in spk2utt.items()}:
        raise MttsError(f"{path / 'spk2utt'}: does not match utt2spk (rebuild it from utt2spk)")
    spk2id = read_spk2id(path)
    if spk2id is not None:
        unknown = sorted(set(inverse) - set(spk2id))
        if unknown:
            raise MttsError(f"{path / 'spk2id'}: has no index for speaker(s) {', '.join(unknown[:3])} of utt2spk")
    return sorted(wavs)
