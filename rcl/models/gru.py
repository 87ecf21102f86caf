"""A bidirectional GRU run as one scan: both directions per step, each direction's gates in one matmul.

It computes what `nn.Bidirectional(nn.RNN(nn.GRUCell(h)), nn.RNN(nn.GRUCell(h)))` with `seq_lengths`
computes at every position inside a sequence (bit-identical outputs on CPU, `tests/test_models.py`), and it
keeps that module's parameters (same paths, shapes and initialisers: `forward_rnn/cell/{ir,iz,in,hr,hz,hn}`,
and likewise `backward_rnn`), so checkpoints and bundles of either load in the other. What differs is
the engineering:

- one `lax.scan` over time for both directions: the backward direction reads each sequence reversed
  within its own length (two independent matmul chains per step, which XLA overlaps; stacking the
  directions on a batch axis of size 2 measured slower, forward and backward);
- the three gates' matmuls fused: per step one [b, c] x [c, 3h] input and one [b, h] x [h, 3h]
  recurrent product per direction (flax's cell makes six);
- the carry is the two hidden states alone, float32[b, h] each.

The input projection is not hoisted out of the scan: inputs are 8-11 one-hot channels, so the per-step
[b, c] x [c, 3h] product is cheap, while the hoisted float32[L, 2, b, 3h] tensor made the scan 2.5x
slower on CPU (BUILD.md, "Speed").
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


class _Linear(nn.Module):
  """`nn.Dense`'s parameters (same names, shapes and initialisers), returned rather than applied."""
  features: int
  kernel_init: Callable
  use_bias: bool

  @nn.compact
  def __call__(self, in_features: int) -> tuple[jax.Array, jax.Array | None]:
    kernel = self.param("kernel", self.kernel_init, (in_features, self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32) if self.use_bias else None
    return kernel, bias


class _Cell(nn.Module):
  """One direction's `nn.GRUCell` parameters, fused: (w_i [c, 3h], b_i [3h], w_h [h, 3h], b_hn [h]),
  the gates in the order r, z, n."""
  hidden: int

  @nn.compact
  def __call__(self, in_features: int) -> tuple[jax.Array, ...]:
    inputs = [_Linear(self.hidden, nn.initializers.lecun_normal(), True, name=n)(in_features)
              for n in ("ir", "iz", "in")]
    recurrent = [_Linear(self.hidden, nn.initializers.orthogonal(), n == "hn", name=n)(self.hidden)
                 for n in ("hr", "hz", "hn")]
    return (jnp.concatenate([k for k, _ in inputs], 1), jnp.concatenate([b for _, b in inputs]),
            jnp.concatenate([k for k, _ in recurrent], 1), recurrent[2][1])


class _Direction(nn.Module):
  """Holds a direction's cell under the name `nn.RNN` gives it ('cell')."""
  hidden: int

  @nn.compact
  def __call__(self, in_features: int) -> tuple[jax.Array, ...]:
    return _Cell(self.hidden, name="cell")(in_features)


@jax.custom_vjp
def _reverse_within(x: jax.Array, lengths: jax.Array) -> jax.Array:
  """x[b, L, ...] with each row's first lengths[b] positions reversed (the rest left in place).

  The permutation is its own inverse, so its gradient is the same gather (autodiff would otherwise
  transpose the gather into a scatter-add, slow on CPU)."""
  t = jnp.arange(x.shape[1])[None, :]
  index = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # [b, L]
  return jnp.take_along_axis(x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=1)


def _reverse_forward(x, lengths):
  return _reverse_within(x, lengths), lengths


def _reverse_backward(lengths, cotangent):
  return _reverse_within(cotangent, lengths), None


_reverse_within.defvjp(_reverse_forward, _reverse_backward)


def _step(state: jax.Array, x_t: jax.Array, w_i: jax.Array, b_i: jax.Array, w_h: jax.Array,
          b_hn: jax.Array) -> jax.Array:
  """One GRU step of one direction: state float32[b, h], x_t [b, c] -> new state float32[b, h] (flax's
  GRUCell). The products run in the weights' dtype (float32, or bfloat16 for mixed precision) and
  accumulate in float32; the gates and the state are float32."""
  h = state.shape[-1]
  gi = jnp.dot(x_t, w_i, preferred_element_type=jnp.float32) + b_i  # [b, 3h]: r, z, n
  gh = jnp.dot(state.astype(w_h.dtype), w_h, preferred_element_type=jnp.float32)  # [b, 3h]
  r = jax.nn.sigmoid(gi[:, :h] + gh[:, :h])
  z = jax.nn.sigmoid(gi[:, h:2 * h] + gh[:, h:2 * h])
  n = jnp.tanh(gi[:, 2 * h:] + r * (gh[:, 2 * h:] + b_hn))
  return (1.0 - z) * n + z * state


class BiGRU(nn.Module):
  """Bidirectional GRU over padded sequences.

  Attributes:
    hidden: units per direction.
    unroll: time steps per scan iteration (1: unrolling by 2 slowed the backward pass by ~20% on CPU).
    dtype: the products' dtype (inputs and weights cast to it; the state stays float32).
  """
  hidden: int
  unroll: int = 1
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x: jax.Array, lengths: jax.Array) -> jax.Array:
    """x: [b, L, c], lengths: int32[b] -> float32[b, L, 2 * hidden]: at position t < lengths[b],
    the forward state after x[b, :t+1] and the backward state after x[b, t:lengths[b]] read right to left
    (positions past a sequence's end hold values of no meaning)."""
    cells = [_Direction(self.hidden, name=n)(x.shape[-1]) for n in ("forward_rnn", "backward_rnn")]
    cells = [(w_i.astype(self.dtype), b_i, w_h.astype(self.dtype), b_hn) for w_i, b_i, w_h, b_hn in cells]
    x = x.astype(self.dtype)
    xs = (jnp.moveaxis(x, 1, 0), jnp.moveaxis(_reverse_within(x, lengths), 1, 0))  # 2 x [L, b, c]

    def step(states, x_t):  # states, x_t: per direction [b, h], [b, c]
      states = tuple(_step(s, xt, *cell) for s, xt, cell in zip(states, x_t, cells))
      return states, states

    zero = jnp.zeros((x.shape[0], self.hidden), jnp.float32)
    _, (forward, backward) = jax.lax.scan(step, (zero, zero), xs, unroll=self.unroll)  # 2 x [L, b, h]
    return jnp.concatenate([jnp.moveaxis(forward, 0, 1), _reverse_within(jnp.moveaxis(backward, 0, 1), lengths)],
                           axis=-1)
