"""Atomic file writes and small helpers shared by every stage.

Every stage writes to a temporary file in the target directory and renames it, so a
killed process never leaves a half-written file under the final name.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import re
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from mtts.errors import MttsError

ID_PATTERN = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}")


def check_id(value: str, where: str) -> str:
    """An utterance id or speaker name read from a file, checked before it becomes part of a
    path: letters, digits, `_ - .`, no leading dot, 1-128 characters. `where` is `FILE:LINE`."""
    if not ID_PATTERN.fullmatch(value):
        raise MttsError(f"{where}: id {value!r} is not allowed: use 1-128 letters, digits, '_', '-' "
                        "or '.', not starting with '.'")
    return value


def child_path(directory: str | os.PathLike, name: str) -> Path:
    """`directory / name`, refused unless it lies directly inside `directory` (the file itself
    may be a symlink to elsewhere, as corpus wavs often are)."""
    directory = Path(directory)
    path = directory / name
    if path.name != name or path.parent.resolve() != directory.resolve():
        raise MttsError(f"{name!r} would be written outside {directory}")
    return path


def _ensure_dir(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MttsError(f"cannot create directory {path.parent}: {e.strerror}") from None
    if not os.access(path.parent, os.W_OK):
        raise MttsError(f"directory {path.parent} is not writable")


def _temp_beside(path: Path) -> Path:
    """An empty, hidden temp file in path's directory (its parents made): renamed or linked
    over `path` it is one step on the same file system."""
    _ensure_dir(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _publish_mode(tmp: Path) -> None:
    os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600: give the file the mode a plain open() would


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it over `path` only on success."""
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        yield tmp
        _publish_mode(tmp)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise MttsError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class DirLock:
    """An exclusive lock on a directory, held while one process writes into it: `DIR/.lock`,
    locked with `flock` and holding the holder's pid and host. The kernel releases a flock
    when its process dies, however it dies, so a lock left by a killed run is no lock: the
    next run takes it over (and rewrites the pid). `what` names the holder in the error, e.g.
    "training run". Works on local disks; NFS flock depends on the server.

    `shared=True` takes a shared lock instead: any number of shared holders at once (the shards
    of one array job), but never beside an exclusive one (a whole run or the merge)."""

    def __init__(self, directory: str | os.PathLike, what: str, hint: str = "wait for it to finish",
                 shared: bool = False):
        self.directory, self.what, self.hint, self.shared = Path(directory), what, hint, shared
        self.path = self.directory / ".lock"
        self._fd: int | None = None

    def acquire(self) -> "DirLock":
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise MttsError(f"cannot lock {self.directory}: {e.strerror}") from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:   # held by a live process
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
            os.close(fd)
            who = f"pid {holder[0]} on {holder[1]}" if len(holder) >= 2 else "a process that is starting"
            if holder[2:3] == ["shared"]:
                who += ", perhaps with other shard jobs"
            raise MttsError(f"{self.directory} is in use by another {self.what} ({who}): "
                            f"{self.hint}") from None
        # shared holders write over each other (no truncation, which could blank another's line):
        # the file names one of them, which is all the message above needs
        if not self.shared:
            os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}{' shared' if self.shared else ''}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Unlock (the file stays: removing it would race with a process opening it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "DirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


@contextmanager
def waiting_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if need be), waiting for it: for a short
    critical section that concurrent jobs take in turn."""
    path = Path(path)
    _ensure_dir(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def create_json(path: str | os.PathLike, obj: Any) -> bool:
    """Write `path` as write_json does, but only if it does not exist; False if it did. The
    whole file appears at once, by a hard link that fails on an existing name (atomic on NFS
    too), so processes racing to create it never overwrite one another."""
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _publish_mode(tmp)
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError as e:
        raise MttsError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return True


def write_lines(path: str | os.PathLike, lines: list[str]) -> None:
    write_text(path, "".join(line + "\n" for line in lines))


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise MttsError(f"{path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MttsError(f"{path} is not valid JSON: {e}") from None


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:  # torch reports a full disk as a RuntimeError
            raise OSError(28, f"cannot write {path}: {str(e).splitlines()[0][:100]}") from None


def torch_load(path: str | os.PathLike) -> Any:
    """A torch file of tensors and plain Python values (`weights_only=True`): anything that
    would need code to unpickle is refused before it runs, with a one-line error."""
    import pickle
    import warnings
    path = Path(path)
    if not path.is_file():
        raise MttsError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # torch warns about pickle protocols it reads all the same
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise MttsError(f"{path} holds Python objects that would run code when loaded; nothing was run. "
                        f"Only if you wrote it yourself with an older mtts: mtts convert {path} OUT --trust") from None
    except Exception as e:  # truncated or foreign files raise many different types
        raise MttsError(f"checkpoint {path} is unreadable ({type(e).__name__}); "
                        "it may be truncated: pick another checkpoint") from None


def torch_load_trusted(path: str | os.PathLike) -> Any:
    """Full unpickling, which runs whatever code the file holds: only for `mtts convert --trust`."""
    path = Path(path)
    if not path.is_file():
        raise MttsError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise MttsError(f"{path} is unreadable ({type(e).__name__})") from None


def rng_state() -> dict:
    """Python, NumPy and torch RNG states as tensors and plain values (safe to load), and the
    current GPU's once CUDA is in use."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": numpy_state(np.random.get_state())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def numpy_state(state: tuple) -> dict:
    """NumPy's legacy RNG state tuple as a tensor and plain values."""
    kind, keys, pos, has_gauss, gauss = state
    return {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys).astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(nested_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():   # a GPU run resumed on a CPU has no use for it
        torch.cuda.set_rng_state(state["cuda"])


def nested_tuples(x: Any) -> Any:
    """random.setstate wants the nested tuples getstate gave (a file may hold lists)."""
    return tuple(nested_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
