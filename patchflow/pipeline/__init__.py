"""The sampling pipeline: `Pipeline` (prompt + mode -> video, `pipeline.py`) and the one table of modes
(`modes.py`) that the command line, the demo and the docs share."""

from patchflow.pipeline.modes import MODES, Mode, Plan
from patchflow.pipeline.output import PipelineOutput, to_uint8
from patchflow.pipeline.pipeline import Pipeline

__all__ = ["MODES", "Mode", "Pipeline", "PipelineOutput", "Plan", "to_uint8"]
