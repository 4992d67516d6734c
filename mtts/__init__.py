"""mtts: multi-task learning for text-to-speech."""

import os

__version__ = "0.1.0"

# numba (librosa's pYIN) caches compiled code beside librosa's own files by default: in a
# read-only site-packages that fails, and parallel workers writing one cache race. Give it a
# cache of its own under the user's, before anything imports librosa; a value the user set wins.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "mtts", "numba"))
