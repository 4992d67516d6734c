"""Corpus readers. An LJSpeech-layout corpus is `metadata.csv` (`ID|text|normalized`)
plus `wavs/ID.wav`; `read_ljspeech` returns its utterances and every problem found."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from mtts.errors import MttsError
from mtts.io import check_id, child_path


@dataclass
class Utterance:
    utt_id: str
    text: str
    wav: Path
    speaker: str = "spk1"


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
    for n, line in enumerate(content.splitlines(), 1):  # splitlines drops CR of CRLF ends
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) not in (2, 3):
            problems.append(f"{meta}:{n}: expected 'ID|text|normalized text', got {len(fields)} fields")
            continue
        uid = fields[0].strip()
        text = (fields[2] if len(fields) == 3 and fields[2].strip() else fields[1]).strip()
        if not uid or any(c.isspace() for c in uid):
            problems.append(f"{meta}:{n}: utterance id {uid!r} is empty or contains spaces")
            continue
        check_id(uid, f"{meta}:{n}")
        if uid in seen:
            problems.append(f"{meta}:{n}: duplicate id '{uid}'")
            continue
        seen.add(uid)
        if not text:
            problems.append(f"{meta}:{n}: '{uid}' has empty text")
            continue
        utts.append(Utterance(uid, " ".join(text.split()), child_path(root / "wavs", f"{uid}.wav")))
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
