"""The paper's CNN component (Fig. 1): 5 x [Conv1D, BatchNorm, MaxPool, GaussianNoise, Dropout], dense head."""

from collections.abc import Sequence

import flax.linen as nn
import jax

from rcl.models import inputs
from rcl.models.noise import Dropout, regularised


class CNN(nn.Module):
  """Convolutional classifier over one-hot RNA inputs of fixed length.

  Attributes:
    num_classes: output classes.
    filters: convolution filters per block (paper: 256 for A, 128 for B).
    kernel_size: convolution width (the paper does not state it; 5, as in the Keras reference).
    blocks: number of conv blocks (paper: 5).
    dense: widths of the dense layers after Flatten; the last one is the LD feature layer.
    noise: Gaussian noise standard deviation sigma (paper: 1.0 = regularisation level lambda).
    dropout: dropout rate (paper: 0.5 = lambda x 50%).
    input_kind: "seq", "sec" or "seq+sec".
    batch_axis: the shard_map axis a data-parallel batch is split over: BatchNorm then averages its
      statistics over the whole batch, not one shard (set by `fit` when it is given a mesh).
  """
  num_classes: int
  filters: int = 256
  kernel_size: int = 5
  blocks: int = 5
  dense: Sequence[int] = (128, 64)
  noise: float = 1.0
  dropout: float = 0.5
  input_kind: str = "seq"
  batch_axis: str | None = None

  @nn.compact
  def __call__(self, batch: dict[str, jax.Array], train: bool) -> dict[str, jax.Array]:
    """Classifies a batch.

    Args:
      batch: 'seq' (and/or 'sec') uint8[b, L] codes; L is fixed for a given model (Flatten).
      train: enables batch-statistics updates, noise and dropout (needs 'noise' and 'dropout' RNGs).

    Returns:
      'logits' float32[b, num_classes] and 'ld' float32[b, dense[-1]] (last dense layer features).
    """
    x = inputs.embed(batch, self.input_kind)  # [b, L, c]
    for _ in range(self.blocks):
      x = nn.Conv(self.filters, (self.kernel_size,), padding="SAME")(x)
      x = nn.relu(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3, axis_name=self.batch_axis)(x)
      x = nn.max_pool(x, (2,), strides=(2,))  # [b, L / 2, filters]
      x = regularised(self.noise, self.dropout, not train)(x)
    x = x.reshape(x.shape[0], -1)  # [b, L / 2^blocks * filters]
    for i, width in enumerate(self.dense):
      x = nn.relu(nn.Dense(width)(x))
      if i < len(self.dense) - 1:
        x = Dropout(self.dropout)(x, not train)
    logits = nn.Dense(self.num_classes)(x)
    return {"logits": logits, "ld": x}
