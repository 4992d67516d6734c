"""Shards of a data stage, for array jobs (`sbatch --array=1-N`): `--job K --njobs N` does the
utterances whose id hashes to K, `--merge --njobs N` combines the N shards' results.

A shard's membership depends on its utterance id alone (a SHA-256 of it, not Python's salted
`hash()`), so every host computes the same split and a rerun of one shard redoes the same
utterances. Each shard writes only its own files under DUMP/shards/; the merge refuses a missing
shard or one made with other settings (`check_settings`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mtts.errors import MttsError


def shard_of(utt_id: str, njobs: int) -> int:
    """The shard (1..njobs) an utterance belongs to."""
    return int.from_bytes(hashlib.sha256(utt_id.encode("utf-8")).digest()[:8], "big") % njobs + 1


def check_job(job: int | None, njobs: int, merge: bool) -> None:
    """--job K --njobs N (1 <= K <= N), or --merge --njobs N, or neither (one process does all)."""
    if njobs < 1:
        raise MttsError(f"--njobs must be >= 1, got {njobs}")
    if job is not None and merge:
        raise MttsError("give --job K (run one shard) or --merge (combine the shards), not both")
    if job is not None and not 1 <= job <= njobs:
        raise MttsError(f"--job must be in 1..{njobs} (--njobs {njobs}), got {job}")
    if job is None and not merge and njobs != 1:
        raise MttsError(f"--njobs {njobs} needs --job K (run shard K) or --merge (combine the shards)")


def shard_name(stage: str, job: int, njobs: int) -> str:
    return f"{stage}.{job}-of-{njobs}"


def digest(obj) -> str:
    """A short fingerprint of JSON-able settings or content."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def missing_shards(paths: list[Path], command: str, njobs: int) -> None:
    """Refuse, in one line, when any shard's result file is absent."""
    missing = [k for k, p in enumerate(paths, 1) if not p.is_file()]
    if missing:
        ks = ", ".join(map(str, missing))
        raise MttsError(f"shard(s) {ks} of {njobs} not finished (no {paths[missing[0] - 1]}): run "
                        f"`{command} --job K --njobs {njobs}` for K = {ks} first")


def check_settings(path: Path, found: dict, expected: dict) -> None:
    """A shard's recorded settings must be the merge's own: the first difference is named."""
    for key in sorted(set(found) | set(expected)):
        if found.get(key) != expected.get(key):
            raise MttsError(f"{path} was made with other settings ({key}: {found.get(key)!r} there, "
                            f"{expected.get(key)!r} here): rerun that shard with these options")
