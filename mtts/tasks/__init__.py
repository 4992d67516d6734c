"""Task registry. Order matters: tasks run in this order over the shared context
(alignment yields durations, pitch/energy add embeddings, mel decodes)."""

from mtts.tasks.alignment import AlignmentTask
from mtts.tasks.base import Task
from mtts.tasks.duration import DurationTask
from mtts.tasks.g2p import G2PTask
from mtts.tasks.mel import MelTask
from mtts.tasks.recognition import RecognitionTask
from mtts.tasks.variance import EnergyTask, PitchTask

TASKS: dict[str, type[Task]] = {
    "alignment": AlignmentTask,
    "duration": DurationTask,
    "pitch": PitchTask,
    "energy": EnergyTask,
    "mel": MelTask,
    "g2p": G2PTask,
    "recognition": RecognitionTask,  # after mel: reads its decoder states
}

__all__ = ["TASKS", "Task"]
