"""The plain ensemble, the baseline any collaborative model must beat: the mean of component softmax outputs."""

from __future__ import annotations

import re

import numpy as np

from rcl.collab.combine import components
from rcl.collab.features import Features


def members(spec: str) -> list[str]:
  """The components a collaborative spec draws on, in first-use order: 'LD(A)+LD(E)+O(A)' -> ['A', 'E']."""
  return components([spec])


def name(spec: str) -> str:
  """The ensemble row that goes with a collaborative spec: 'LD(A)+LD(E)' -> 'Ensemble(A+E)'."""
  return f"Ensemble({'+'.join(members(spec))})"


def average(monikers: list[str], features: dict[str, Features], split: str) -> np.ndarray:
  """float32[n, classes]: the mean of the named components' softmax outputs (O features) on `split`."""
  return np.mean([features[m][split]["O"] for m in monikers], axis=0).astype(np.float32)


def parse_name(text: str) -> list[str] | None:
  """'Ensemble(A+E)' -> ['A', 'E'] (the row `name` writes); None for anything else."""
  match = re.fullmatch(r"Ensemble\(([A-G](?:\+[A-G])*)\)", text)
  return match.group(1).split("+") if match else None
