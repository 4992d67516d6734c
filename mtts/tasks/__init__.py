"""Task registry. Order matters: tasks run in this order over the shared context
(alignment yields durations, pitch/energy add embeddings, mel decodes)."""

import inspect

from mtts.config import Config
from mtts.errors import MttsError
from mtts.tasks.alignment import AlignmentTask
from mtts.tasks.base import Task
from mtts.tasks.duration import DurationTask
from mtts.tasks.g2p import G2PTask
from mtts.tasks.mel import MelTask
from mtts.tasks.recognition import RecognitionTask
from mtts.tasks.speaker import SpeakerAdversarialTask, SpeakerTask
from mtts.tasks.variance import EnergyTask, PitchTask

TASKS: dict[str, type[Task]] = {
    "alignment": AlignmentTask,
    "duration": DurationTask,
    "pitch": PitchTask,
    "energy": EnergyTask,
    "mel": MelTask,
    "g2p": G2PTask,
    "recognition": RecognitionTask,  # after mel: reads its decoder states
    "speaker": SpeakerTask,          # multi-speaker only: the speaker from the predicted mel
    "speaker_adversarial": SpeakerAdversarialTask,  # the speaker from h, gradient reversed
}

REQUIRED = ("mel", "alignment", "duration")


def validate_tasks(cfg: Config) -> None:
    """The tasks section: known names, options as mappings, the required tasks, weights >= 0."""
    for name, opts in cfg.tasks.items():
        if name not in TASKS:
            raise MttsError(f"unknown task '{name}' in config (known: {', '.join(TASKS)})")
        if not isinstance(opts, dict):
            raise MttsError(f"config key 'tasks.{name}' must be a mapping, got {opts!r}")
    for need in REQUIRED:
        if need not in cfg.tasks:
            raise MttsError(f"config must enable the '{need}' task: the acoustic model needs "
                            "mel, alignment (durations for training) and duration (for synthesis)")
    for name, opts in cfg.tasks.items():
        w = opts.get("weight", 1.0)
        if not isinstance(w, (int, float)) or isinstance(w, bool) or not 0 <= w < float("inf"):   # NaN too
            raise MttsError(f"config key 'tasks.{name}.weight' must be a finite number >= 0, got {w!r}")
        known = [p for p in inspect.signature(TASKS[name].__init__).parameters if p not in ("self", "model", "dims")]
        bad = [k for k in opts if k != "weight" and k not in known]
        if bad:
            raise MttsError(f"unknown config key 'tasks.{name}.{bad[0]}' (known: {', '.join(['weight', *known])})")


__all__ = ["REQUIRED", "TASKS", "Task", "validate_tasks"]
