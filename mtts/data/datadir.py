"""Kaldi-style data directories: `wav.scp`, `text`, `utt2spk`, `spk2utt`, `utt2dur`.

One record per line keyed by utterance id, sorted, ids unique. Later stages add files
with the same keys (`phones`, `feats.scp`).
"""

from __future__ import annotations

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
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        key, _, value = line.partition(" ")
        check_id(key, f"{path}:{n}")
        if key in table:
            raise MttsError(f"{path}:{n}: duplicate id '{key}'")
        table[key] = value
    return table


def write_datadir(path: Path, wavs: dict[str, str], texts: dict[str, str],
                  spk: dict[str, str], durs: dict[str, float]) -> None:
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


def validate_datadir(path: Path) -> list[str]:
    """Kaldi's validate_data_dir in short: the same ids in every file. Returns ids."""
    wavs = read_table(path / "wav.scp")
    for name in ("text", "utt2spk", "utt2dur", "feats.scp"):
        other = read_table(path / name)
        if set(other) != set(wavs):
            missing = sorted(set(wavs) ^ set(other))[:3]
            raise MttsError(f"{path / name}: ids differ from wav.scp (e.g. {', '.join(missing)})")
    for utt, dur in read_table(path / "utt2dur").items():
        try:
            if float(dur) <= 0:
                raise ValueError
        except ValueError:
            raise MttsError(f"{path / 'utt2dur'}: '{utt}' has a bad duration {dur!r}") from None
    return sorted(wavs)
