"""What defines an experiment: a nested, typed configuration whose defaults are written only in the
dataclasses that hold them.

Every field carries its flag metadata (help text, bounds, choices, name; `rcl.config.fields`); entry points
turn the fields into flags (named by the field, with the prefix of the enclosing field, or by metadata
'flag'; 'flag': None keeps a field off the command line) and build the configuration back from them, so a
default is never written twice.
"""

from rcl.config.data import DataConfig, default_structure_cache
from rcl.config.experiment import ExperimentConfig, from_dict, read
from rcl.config.stages import AnalysisConfig, BoundaryConfig, CollabConfig, NoveltyConfig, SweepConfig
from rcl.train.fit_config import FitConfig

__all__ = ["AnalysisConfig", "BoundaryConfig", "CollabConfig", "DataConfig", "ExperimentConfig", "FitConfig",
           "NoveltyConfig", "SweepConfig", "default_structure_cache", "from_dict", "read"]
