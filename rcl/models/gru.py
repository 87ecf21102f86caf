"""A bidirectional GRU run as one scan: both directions per step, each direction's gates in one matmul.

It computes what `nn.Bidirectional(nn.RNN(nn.GRUCell(h)), nn.RNN(nn.GRUCell(h)))` with `seq_lengths`
computes at every position inside a sequence (bit-identical outputs on CPU, `tests/test_models.py`), and it
keeps that module's parameters (same paths, shapes and initialisers: `forward_rnn/cell/{ir,iz,in,hr,hz,hn}`,
and likewise `backward_rnn`), so checkpoints and bundles of either load in the other. What differs is
the engineering:

- one `lax.scan` over time for both directions: the backward direction reads each sequence reversed
  within its own length, stacked with the forward input on a leading axis of size 2;
- the three gates' matmuls fused: per step one [b, c] x [c, 3h] input and one [b, h] x [h, 3h]
  recurrent product per direction (flax's cell makes six);
- the carry is the hidden state alone, float32[2, b, h].

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


def _reverse_within(x: jax.Array, lengths: jax.Array) -> jax.Array:
  """x[b, L, ...] with each row's first lengths[b] positions reversed (the rest left in place); its own
  inverse."""
  t = jnp.arange(x.shape[1])[None, :]
  index = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # [b, L]
  return jnp.take_along_axis(x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=1)


class BiGRU(nn.Module):
  """Bidirectional GRU over padded sequences.

  Attributes:
    hidden: units per direction.
    unroll: time steps per scan iteration (2 measured fastest on CPU).
  """
  hidden: int
  unroll: int = 2

  @nn.compact
  def __call__(self, x: jax.Array, lengths: jax.Array) -> jax.Array:
    """x: float32[b, L, c], lengths: int32[b] -> float32[b, L, 2 * hidden]: at position t < lengths[b],
    the forward state after x[b, :t+1] and the backward state after x[b, t:lengths[b]] read right to left
    (positions past a sequence's end hold values of no meaning)."""
    h = self.hidden
    cells = [_Direction(h, name=n)(x.shape[-1]) for n in ("forward_rnn", "backward_rnn")]
    w_i, b_i, w_h, b_hn = (jnp.stack(parts) for parts in zip(*cells))  # leading axis: direction
    xs = jnp.moveaxis(jnp.stack([x, _reverse_within(x, lengths)]), 2, 0)  # [L, 2, b, c]

    def step(state, x_t):  # state, x_t: [2, b, h], [2, b, c]
      gi = jnp.einsum("dbc,dcg->dbg", x_t, w_i) + b_i[:, None, :]
      gh = jnp.einsum("dbh,dhg->dbg", state, w_h)
      r = jax.nn.sigmoid(gi[..., :h] + gh[..., :h])
      z = jax.nn.sigmoid(gi[..., h:2 * h] + gh[..., h:2 * h])
      n = jnp.tanh(gi[..., 2 * h:] + r * (gh[..., 2 * h:] + b_hn[:, None, :]))
      state = (1.0 - z) * n + z * state
      return state, state

    _, states = jax.lax.scan(step, jnp.zeros((2, x.shape[0], h), x.dtype), xs, unroll=self.unroll)  # [L, 2, b, h]
    forward, backward = jnp.moveaxis(states, 0, 2)  # [b, L, h] each
    return jnp.concatenate([forward, _reverse_within(backward, lengths)], axis=-1)
