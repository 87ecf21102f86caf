"""The paper's RNN component (Fig. 2): bidirectional GRU, masked attention pooling, three dense layers."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from rcl.models import inputs
from rcl.models.gru import BiGRU
from rcl.models.noise import Dropout, GaussianNoise
from rcl.models.running_norm import RunningNorm


class AttentionPool(nn.Module):
  """Masked additive attention pooling (paper, footnote 5): sum_t softmax_t(v . tanh(W h_t + b)) h_t.

  Attributes:
    width: size of the projection W.
    dtype: the projection's arithmetic dtype (scores, weights and the pooled output are float32).
  """
  width: int = 128
  dtype: str = "float32"

  @nn.compact
  def __call__(self, h: jax.Array, lengths: jax.Array) -> tuple[jax.Array, jax.Array]:
    """h: float32[b, L, d], lengths: int32[b] -> (pooled float32[b, d], weights float32[b, L]).

    Positions at or past a sequence's length get weight exactly 0, so padding cannot change the result.
    """
    projected = jnp.tanh(nn.Dense(self.width, dtype=self.dtype, name="W")(h))  # [b, L, width]
    scores = nn.Dense(1, use_bias=False, dtype=self.dtype, name="v")(projected)[..., 0].astype(jnp.float32)
    valid = jnp.arange(h.shape[1])[None, :] < lengths[:, None]  # [b, L]
    scores = jnp.where(valid, scores, -jnp.inf)
    # A zero-length row would be all -inf: give it zero weights instead of NaN.
    weights = jnp.where(valid, jax.nn.softmax(jnp.where(valid.any(-1, keepdims=True), scores, 0.0), -1), 0.0)
    return jnp.einsum("bl,bld->bd", weights, h), weights


class RNN(nn.Module):
  """BiGRU classifier over variable-length one-hot RNA inputs.

  Attributes:
    num_classes: output classes.
    hidden: GRU units per direction (the Keras reference: 64).
    attention: attention projection width (128).
    dense: widths of the dense layers after pooling; the last one is the LD feature layer.
    noise: Gaussian noise sigma (= lambda) added to the pooled representation once standardised, i.e. at
      unit scale, as in the CNN's blocks (after BatchNorm).
    dropout: dropout rate after pooling and after the first dense layer (= lambda x 50%).
    input_kind: "seq", "sec" or "seq+sec".
    batch_axis: the shard_map axis a data-parallel batch is split over (RunningNorm, noise and dropout;
      set by `fit`).
    dtype: the layers' arithmetic dtype ("bfloat16": mixed precision; parameters, the GRU state, the
      running statistics, logits and features stay float32).
  """
  num_classes: int
  hidden: int = 64
  attention: int = 128
  dense: Sequence[int] = (128, 64, 32)
  noise: float = 1.0
  dropout: float = 0.5
  input_kind: str = "seq"
  batch_axis: str | None = None
  dtype: str = "float32"

  def setup(self):
    # Parameter paths as flax's nn.Bidirectional of two GRUCell RNNs: params/bigru/{forward_rnn,backward_rnn}/cell/...
    self.bigru = BiGRU(self.hidden, dtype=self.dtype)
    self.pool = AttentionPool(self.attention, dtype=self.dtype)
    # As in the CNN, where noise follows BatchNorm, the noise meets unit-scale features, so sigma = lambda
    # means the same corruption in both families (the pooled GRU outputs themselves differ little between
    # sequences). Running statistics rather than BatchNorm's per-batch ones: length buckets make batches far
    # from random samples (see RunningNorm).
    self.norm = RunningNorm(axis_name=self.batch_axis)
    self.gaussian = GaussianNoise(self.noise, self.batch_axis)
    self.drop = Dropout(self.dropout, self.batch_axis)
    self.layers = [nn.Dense(w, dtype=self.dtype) for w in self.dense]
    self.head = nn.Dense(self.num_classes, dtype=self.dtype)

  def __call__(self, batch: dict[str, jax.Array], train: bool) -> dict[str, jax.Array]:
    """Classifies a batch.

    Args:
      batch: 'seq' (and/or 'sec') uint8[b, L] codes, 'length' int32[b] true lengths (<= L).
      train: updates the running statistics (a mutable 'batch_stats' collection), enables noise and dropout
        (needs 'noise' and 'dropout' RNGs).

    Returns:
      'logits' float32[b, num_classes], 'ld' float32[b, dense[-1]] and 'attention' float32[b, L].
    """
    x = inputs.embed(batch, self.input_kind)  # [b, L, c]
    lengths = batch["length"]
    # The backward GRU starts at each sequence's true end (not in the padding).
    h = self.bigru(x, lengths)  # [b, L, 2 * hidden]
    x, weights = self.pool(h, lengths)  # [b, 2 * hidden]
    x = self.norm(x, update=train)  # [b, 2 * hidden], unit scale per feature
    x = self.drop(self.gaussian(x, not train), not train)
    for i, layer in enumerate(self.layers):
      x = nn.relu(layer(x))
      if i == 0:
        x = self.drop(x, not train)
    return {"logits": self.head(x).astype(jnp.float32), "ld": x.astype(jnp.float32), "attention": weights}
