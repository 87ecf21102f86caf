"""The paper's CNN component (Fig. 1): 5 x [Conv1D, BatchNorm, MaxPool, GaussianNoise, Dropout], dense head.

Heads. The paper's Flatten head ('flatten') gives every final-layer position its own weights, so it learns
where a record sits in the window (every training record starts at position 0) and fails when the record
comes with flanks. A pooled head ('max' or 'max_mean': the maximum, and the mean, of each filter over the
final-layer positions the record reaches) reads the same features wherever the record lies, and any input
width, so it trains and predicts on length buckets as the RNN does. The 'window' head keeps what Flatten
knows, where features lie relative to each other, without tying it to the window: Flatten's first dense
layer slid over the final-layer positions as a convolution of width `head_width` (a window of
head_width x 2^blocks nucleotides), its outputs max-pooled over the window's starts inside the record.

Exact windowed inference. The Flatten/Dense head fixes the input width L (max_len), yet a sequence of
length l < L is followed by padding, whose one-hot rows are zero. In inference every block is local (SAME
convolution, ReLU, BatchNorm with running statistics, max-pooling), so a final-layer position whose
receptive field lies wholly in the padding holds exactly what an all-padding input gives there, and a
position whose receptive field ends before a window's edge is computed exactly from that window alone.
The model therefore reads a batch narrower than L (a window of width W, `windows`) as: the convolution
stack over the window, joined at each row's `zero_start` to the stack's output for one all-padding
input of width L; then the head as usual. The convolution work then follows the records' lengths rather
than L, and most records are much shorter than L.
"""

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rcl.models import inputs
from rcl.models.noise import Dropout, GaussianNoise

HEADS = ("flatten", "max", "max_mean", "window")


def _pads(kernel_size: int) -> tuple[int, int]:
  """(left, right) extent of a SAME convolution's window around its centre."""
  left = (kernel_size - 1) // 2
  return left, kernel_size - 1 - left


def zero_start(lengths, kernel_size: int, blocks: int):
  """int[b] sequence lengths -> int[b] first final-layer position whose receptive field is all padding
  (NumPy or JAX integers)."""
  left, _ = _pads(kernel_size)
  z = lengths
  for _ in range(blocks):
    z = (z + left + 1) // 2  # the convolution shifts it right by `left`, the pool halves it (rounding up)
  return z


def exact_prefix(width: int, kernel_size: int, blocks: int) -> int:
  """How many final-layer positions the stack computes exactly from a window of `width` alone."""
  _, right = _pads(kernel_size)
  v = width
  for _ in range(blocks):
    v = max(v - right, 0) // 2
  return v


@functools.cache
def windows(max_len: int, kernel_size: int, blocks: int, step: int = 128) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """Window widths (multiples of `step`, a multiple of 2^blocks, below max_len; each serving at least
  step / 2 positions) and, for each, the longest sequence it serves exactly; then max_len itself, which
  serves every sequence. Each width is one more compiled shape: a step of 128 keeps them few."""
  if step % 2 ** blocks:
    raise ValueError(f"window step {step} must be a multiple of 2^blocks = {2 ** blocks}")
  starts = zero_start(np.arange(max_len + 1), kernel_size, blocks)  # nondecreasing in the length
  widths, capacity = [], []
  for width in range(step, max_len, step):
    serves = int(np.searchsorted(starts, exact_prefix(width, kernel_size, blocks), side="right")) - 1
    if serves >= step // 2 and (not capacity or serves > capacity[-1]):
      widths.append(width)
      capacity.append(serves)
  return tuple(widths) + (max_len,), tuple(capacity) + (max_len,)


@jax.custom_vjp
def max_pool2(x: jax.Array) -> jax.Array:
  """x[b, W, c] -> [b, W // 2, c]: `nn.max_pool(x, (2,), strides=(2,))` (a trailing odd position dropped),
  with the same gradient (all of it to the first of tied maxima) computed as a select between the pairs:
  XLA's CPU backend turns max_pool's own gradient (select-and-scatter) into a scatter with index iotas,
  which is costly on a CPU (BUILD.md, "Measurements behind code choices"). The forward pass stays
  XLA's reduce-window, which fuses with the BatchNorm before it."""
  return nn.max_pool(x, (2,), strides=(2,))


def _max_pool2_forward(x):
  return max_pool2(x), x


def _max_pool2_backward(x, g):
  b, w, c = x.shape
  pairs = x[:, :w - w % 2].reshape(b, w // 2, 2, c)
  first = pairs[:, :, 0] >= pairs[:, :, 1]  # [b, W // 2, c]
  dx = jnp.stack([jnp.where(first, g, 0.0), jnp.where(first, 0.0, g)], axis=2).reshape(b, w - w % 2, c)
  return (jnp.pad(dx, ((0, 0), (0, w % 2), (0, 0))),)


max_pool2.defvjp(_max_pool2_forward, _max_pool2_backward)


def reach(lengths: jax.Array, blocks: int, width: int) -> jax.Array:
  """int[b] record lengths -> int[b] final-layer positions each record reaches: ceil(length / 2^blocks),
  at least one, at most the final layer's `width`."""
  return jnp.clip(-(-lengths // 2 ** blocks), 1, width)


def pool(h: jax.Array, lengths: jax.Array, blocks: int, with_mean: bool) -> jax.Array:
  """h[b, W', f] final-layer features, int[b] record lengths -> [b, f] maximum over the positions the
  record reaches (the first ceil(length / 2^blocks), at least one), then with `with_mean` their mean
  ([b, 2f]). Positions past the record (padding) are left out, so that the padded width does not matter."""
  reached = reach(lengths, blocks, h.shape[1])  # [b]
  inside = jnp.arange(h.shape[1])[None, :, None] < reached[:, None, None]  # [b, W', 1]
  out = [jnp.max(jnp.where(inside, h, -jnp.inf), axis=1)]
  if with_mean:
    out.append(jnp.sum(jnp.where(inside, h, 0), axis=1) / reached[:, None].astype(h.dtype))
  return jnp.concatenate(out, axis=-1)


class CNN(nn.Module):
  """Convolutional classifier over one-hot RNA inputs of fixed length.

  Attributes:
    num_classes: output classes.
    filters: convolution filters per block (paper: 256 for A, 128 for B).
    kernel_size: convolution width (the paper does not state it; 5, as in the Keras reference).
    blocks: number of conv blocks (paper: 5).
    head: 'flatten' (the paper) or a pooled head, 'max', 'max_mean' or 'window', over the record's
      final-layer positions (module docstring).
    head_width: the 'window' head's width in final-layer positions.
    dense: widths of the dense layers after the head; the last one is the LD feature layer.
    noise: Gaussian noise standard deviation sigma (paper: 1.0 = regularisation level lambda).
    dropout: dropout rate (paper: 0.5 = lambda x 50%).
    input_kind: "seq", "sec" or "seq+sec".
    length: the input width L (max_len) when known: a Flatten head's inference then also reads narrower
      windows (`windows`).
    batch_axis: the shard_map axis a data-parallel batch is split over: BatchNorm then averages its
      statistics over the whole batch, not one shard, and noise and dropout draw by global row (set by
      `fit` when it is given a mesh).
    dtype: the layers' arithmetic dtype ("bfloat16": mixed precision; parameters, batch statistics,
      logits and features stay float32).
  """
  num_classes: int
  filters: int = 256
  kernel_size: int = 5
  blocks: int = 5
  head: str = "flatten"
  head_width: int = 8
  dense: Sequence[int] = (128, 64)
  noise: float = 1.0
  dropout: float = 0.5
  input_kind: str = "seq"
  length: int | None = None
  batch_axis: str | None = None
  dtype: str = "float32"

  @nn.compact
  def __call__(self, batch: dict[str, jax.Array], train: bool) -> dict[str, jax.Array]:
    """Classifies a batch.

    Args:
      batch: 'seq' (and/or 'sec') uint8[b, W] codes and 'length' int32[b]. For the Flatten head W is the
        model's input width L (fixed at initialisation) or, in inference when `length` is set, a narrower
        window that every row fits (`windows`: a row longer than its window's capacity would be misread);
        a pooled head takes any W.
      train: enables batch-statistics updates, noise and dropout (needs 'noise' and 'dropout' RNGs).

    Returns:
      'logits' float32[b, num_classes] and 'ld' float32[b, dense[-1]] (last dense layer features).
    """
    blocks = [(nn.Conv(self.filters, (self.kernel_size,), padding="SAME", dtype=self.dtype),
               nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3, axis_name=self.batch_axis,
                            dtype=self.dtype),
               GaussianNoise(self.noise, self.batch_axis), Dropout(self.dropout, self.batch_axis))
              for _ in range(self.blocks)]

    def stack(x):  # [b, W, c] -> [b, W / 2^blocks, filters]
      for conv, norm, noise, dropout in blocks:
        x = norm(nn.relu(conv(x)))
        x = max_pool2(x)  # [b, W / 2, filters]
        x = dropout(noise(x, not train), not train)
      return x

    if self.head not in HEADS:
      raise ValueError(f"CNN head must be one of {HEADS}, got {self.head!r}")
    x = inputs.embed(batch, self.input_kind).astype(self.dtype)  # [b, W, c]
    h = stack(x)
    dense = list(self.dense)
    if self.head == "window":  # the first dense layer as a convolution over positions, max-pooled
      width = self.head_width
      # Positions past the record read as zeros, as past the batch's width, so the padded width does not matter.
      reached = reach(batch["length"], self.blocks, h.shape[1])  # [b]
      h = jnp.where(jnp.arange(h.shape[1])[None, :, None] < reached[:, None, None], h, 0)
      h = nn.Conv(dense.pop(0), (width,), padding=[(0, width - 1)], dtype=self.dtype)(h)  # [b, W', dense[0]]
      x = nn.relu(pool(h, batch["length"], self.blocks, with_mean=False))  # [b, dense[0]]
      if dense:
        x = Dropout(self.dropout, self.batch_axis)(x, not train)
    elif self.head != "flatten":
      x = pool(h, batch["length"], self.blocks, with_mean=self.head == "max_mean")  # [b, filters (x 2)]
    elif self.length is not None and x.shape[1] < self.length:  # a window: join the padding's features
      if train:
        raise ValueError(f"a CNN of input width {self.length} trains on full-width batches only, got {x.shape[1]}")
      padding = stack(jnp.zeros((1, self.length, x.shape[-1]), x.dtype))  # [1, L / 2^blocks, filters]
      start = zero_start(batch["length"], self.kernel_size, self.blocks)  # [b]
      h = jnp.pad(h, ((0, 0), (0, padding.shape[1] - h.shape[1]), (0, 0)))
      h = jnp.where(jnp.arange(padding.shape[1])[None, :, None] < start[:, None, None], h, padding)
    if self.head == "flatten":
      x = h.reshape(h.shape[0], -1)  # [b, L / 2^blocks * filters]
    for i, width in enumerate(dense):
      x = nn.relu(nn.Dense(width, dtype=self.dtype)(x))
      if i < len(dense) - 1:
        x = Dropout(self.dropout, self.batch_axis)(x, not train)
    logits = nn.Dense(self.num_classes, dtype=self.dtype)(x)
    return {"logits": logits.astype(jnp.float32), "ld": x.astype(jnp.float32)}
