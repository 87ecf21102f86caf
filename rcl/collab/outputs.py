"""What every kind of model gives for novelty scoring and calibration (`rcl.analysis.novelty.Outputs`),
built from its networks' predictions (`rcl.train.predict.predict`: 'logits', 'probs', 'ld')."""

from __future__ import annotations

import numpy as np

from rcl.analysis.novelty import Outputs, energy


def component(prediction: dict[str, np.ndarray]) -> Outputs:
  """A component: its logits, and its LD features."""
  return Outputs(prediction["logits"], energy(prediction["logits"]), prediction["ld"])


def ensemble(members: list[dict[str, np.ndarray]]) -> Outputs:
  """A plain ensemble (the mean of its members' probabilities): the log of that mean as logits, the members'
  mean energy, and their LD features side by side."""
  probs = np.mean([m["probs"] for m in members], axis=0, dtype=np.float64)
  return Outputs(np.log(np.maximum(probs, 1e-30)).astype(np.float32),
                 np.mean([energy(m["logits"]) for m in members], axis=0).astype(np.float32),
                 np.concatenate([m["ld"] for m in members], axis=-1))


def collaborative(prediction: dict[str, np.ndarray]) -> Outputs:
  """A collaborative MLP (`rcl.collab.combine.predict_collaborative`): its logits, and its standardised
  combined input, the paper's features."""
  return Outputs(prediction["logits"], energy(prediction["logits"]), prediction["features"])
