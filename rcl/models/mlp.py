"""The collaborative model's final dense block (paper, Fig. 6b): an MLP over combined component features."""

from collections.abc import Sequence

import flax.linen as nn
import jax

from rcl.models.noise import GaussianNoise, regularised


class CollabMLP(nn.Module):
  """Dense layers with the paper's noise-and-dropout robustness, over a feature vector.

  Attributes:
    num_classes: output classes.
    dense: hidden widths; the last one is this model's own LD layer.
    noise: Gaussian noise sigma after each hidden layer but the last (= lambda).
    dropout: dropout rate after each hidden layer but the last (= lambda x 50%).
    input_noise: Gaussian noise sigma on the (standardised) input features in training; 0: none.
    batch_axis: the shard_map axis a data-parallel batch is split over (noise and dropout; set by `fit`).
  """
  num_classes: int
  dense: Sequence[int] = (128, 64)
  noise: float = 1.0
  dropout: float = 0.5
  input_noise: float = 0.0
  batch_axis: str | None = None

  @nn.compact
  def __call__(self, batch: dict[str, jax.Array], train: bool) -> dict[str, jax.Array]:
    """batch['features'] float32[b, d] (standardised) -> 'logits' float32[b, classes], 'ld' float32[b, dense[-1]]."""
    x = GaussianNoise(self.input_noise, self.batch_axis)(batch["features"], not train)
    for i, width in enumerate(self.dense):
      x = nn.relu(nn.Dense(width)(x))
      if i < len(self.dense) - 1:
        x = regularised(self.noise, self.dropout, not train, self.batch_axis)(x)
    return {"logits": nn.Dense(self.num_classes)(x), "ld": x}
