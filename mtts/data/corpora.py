"""Corpus readers. An LJSpeech-layout corpus is `metadata.csv` (`ID|text|normalized`, or
`ID|text|normalized|speaker` for several speakers, as ESPnet and Coqui read it) plus
`wavs/ID.wav`; `read_ljspeech` returns its utterances and every problem found."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from mtts.errors import MttsError
from mtts.io import check_id, child_path

SINGLE_SPEAKER = "spk1"   # the speaker of a corpus without a speaker column


@dataclass
class Utterance:
    utt_id: str
    text: str
    wav: Path
    speaker: str = SINGLE_SPEAKER


def read_ljspeech(root: Path) -> tuple[list[Utterance], list[str]]:
    """Parse metadata.csv; returns utterances and a list of problems (one line each)."""
    meta = root / "metadata.csv"
    if not meta.is_file():
        raise MttsError(f"{meta} does not exist: is {root} an LJSpeech-layout corpus?")
    raw = meta.read_bytes()
    try:
        content = raw.decode("utf-8-sig")  # tolerates a BOM
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise MttsError(f"{meta}:{line}: not UTF-8 text; convert it with iconv -t UTF-8") from None
    utts: list[Utterance] = []
    problems: list[str] = []
    seen: set[str] = set()
    with_speaker, without_speaker = [], []   # line numbers: a speaker column on some lines only is a slip
    for n, line in enumerate(content.splitlines(), 1):  # splitlines drops CR of CRLF ends
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) not in (2, 3, 4):
            problems.append(f"{meta}:{n}: expected 'ID|text|normalized text[|speaker]', got {len(fields)} fields")
            continue
        uid = fields[0].strip()
        text = (fields[2] if len(fields) >= 3 and fields[2].strip() else fields[1]).strip()
        speaker = fields[3].strip() if len(fields) == 4 else SINGLE_SPEAKER
        if not uid or any(c.isspace() for c in uid):
            problems.append(f"{meta}:{n}: utterance id {uid!r} is empty or contains spaces")
            continue
        check_id(uid, f"{meta}:{n}")
        if len(fields) == 4:   # a speaker name becomes part of paths too (per-speaker results)
            if not speaker:
                problems.append(f"{meta}:{n}: '{uid}' has an empty speaker field")
                continue
            check_id(speaker, f"{meta}:{n}: speaker")
        (with_speaker if len(fields) == 4 else without_speaker).append(n)
        if uid in seen:
            problems.append(f"{meta}:{n}: duplicate id '{uid}'")
            continue
        seen.add(uid)
        if not text:
            problems.append(f"{meta}:{n}: '{uid}' has empty text")
            continue
        utts.append(Utterance(uid, " ".join(text.split()), child_path(root / "wavs", f"{uid}.wav"), speaker))
    if with_speaker and without_speaker:   # named at the odd ones out
        if len(with_speaker) < len(without_speaker):
            problems.append(f"{meta}:{with_speaker[0]}: has a speaker field, although line {without_speaker[0]} "
                            f"has none ({len(with_speaker)} line(s) with one): give every line "
                            "'ID|text|normalized|speaker' or none")
        else:
            problems.append(f"{meta}:{without_speaker[0]}: no speaker field, although line {with_speaker[0]} has one "
                            f"({len(without_speaker)} line(s) without): give every line 'ID|text|normalized|speaker'")
    if not utts and not problems:
        raise MttsError(f"{meta} has no utterances")
    return utts, problems


def split_ids(ids: list[str], n_dev: int, n_test: int) -> dict[str, list[str]]:
    """Deterministic split by a hash of the id, so adding utterances moves few others."""
    order = sorted(ids, key=lambda u: hashlib.md5(u.encode()).hexdigest())
    if n_dev + n_test >= len(order):
        raise MttsError(f"corpus has {len(order)} utterances, too few for "
                        f"{n_dev} dev + {n_test} test; lower --n-dev/--n-test")
    return {"dev": sorted(order[:n_dev]), "test": sorted(order[n_dev:n_dev + n_test]),
            "train": sorted(order[n_dev + n_test:])}
