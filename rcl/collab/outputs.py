"""What every kind of model gives for novelty scoring and calibration (`rcl.analysis.novelty.Outputs`),
built from its networks' predictions (`rcl.train.predict.predict`: 'logits', 'probs', 'ld')."""

from __future__ import annotations

import numpy as np

from rcl.analysis.novelty import Outputs, energy
from rcl.collab import combine, ensemble as ensembles
from rcl.data.dataset import Split
from rcl.train.predict import predict


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


def every_model(split: Split, components: dict, collaborative_models: dict, batch: int) -> dict[str, Outputs]:
  """The outputs of every model of a run on `split`, each component network predicting once.

  Args:
    components: moniker -> (selected state, bucket lengths).
    collaborative_models: spec -> (selected MLP state, feature mean, feature std); each brings its plain
      ensemble ('Ensemble(A+E)'); a spec drawing on a component missing from `components` is left out.
  """
  predictions = {m: predict(state, split, batch, bucket_lengths=buckets) for m, (state, buckets) in components.items()}
  out = {m: component(p) for m, p in predictions.items()}
  for spec, (state, mean, std) in collaborative_models.items():
    members = ensembles.members(spec)
    if not set(members) <= set(components):
      continue
    out[ensembles.name(spec)] = ensemble([predictions[m] for m in members])
    out[spec] = collaborative(
        combine.predict_collaborative(spec, {m: predictions[m] for m in members}, state, mean, std, batch))
  return out
