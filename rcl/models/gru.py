"""A bidirectional GRU run as one scan: both directions per step, each direction's gates in one matmul.

It computes what `nn.Bidirectional(nn.RNN(nn.GRUCell(h)), nn.RNN(nn.GRUCell(h)))` with `seq_lengths`
computes at every position inside a sequence (bit-identical outputs on CPU, `tests/test_models.py`), and it
keeps that module's parameters (same paths, shapes and initialisers: `forward_rnn/cell/{ir,iz,in,hr,hz,hn}`,
and likewise `backward_rnn`; the recurrent kernels' orthogonal one factorised without LAPACK,
`rcl.models.orthogonal`), so checkpoints and bundles of either load in the other. What differs is
the engineering:

- one `lax.scan` over time for both directions (two independent matmul chains per step, which XLA
  overlaps, rather than the directions stacked on a batch axis of size 2): step i reads the forward
  direction at time i and the backward direction at time L-1-i, whose state is held at 0 past each
  sequence's end, so it starts at the sequence's last position as flax's does (no gathers of the
  inputs or outputs);
- the three gates' matmuls fused: per step one [b, c] x [c, 3h] input and one [b, h] x [h, 3h]
  recurrent product per direction (flax's cell makes six);
- the carry is the two hidden states alone, float32[b, h] each;
- backpropagation through time written by hand (`jax.custom_vjp`): the backward scan carries the
  states' cotangents and makes one [b, 3h] x [3h, h] product per direction and step, and the weights'
  gradients are one GEMM each over all L x b positions afterwards. Autodiff of the scan instead
  accumulates them step by step and turns the gates' slices into pads and adds, which costs time in every
  training step (BUILD.md, "Measurements behind code choices").

The input projection is not hoisted out of the scan: inputs are 8-11 one-hot channels, so the per-step
[b, c] x [c, 3h] product is cheap, while hoisting it would write and read back a float32[L, 2, b, 3h]
tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from rcl.models.orthogonal import orthogonal


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
    recurrent = [_Linear(self.hidden, orthogonal(), n == "hn", name=n)(self.hidden)
                 for n in ("hr", "hz", "hn")]
    return (jnp.concatenate([k for k, _ in inputs], 1), jnp.concatenate([b for _, b in inputs]),
            jnp.concatenate([k for k, _ in recurrent], 1), recurrent[2][1])


class _Direction(nn.Module):
  """Holds a direction's cell under the name `nn.RNN` gives it ('cell')."""
  hidden: int

  @nn.compact
  def __call__(self, in_features: int) -> tuple[jax.Array, ...]:
    return _Cell(self.hidden, name="cell")(in_features)


def _cell(state: jax.Array, x_t: jax.Array, w_i: jax.Array, b_i: jax.Array, w_h: jax.Array,
          b_hn: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
  """One GRU step of one direction (flax's GRUCell): state float32[b, h], x_t [b, c] -> (new state
  float32[b, h], the gates (r, z, n, hn) float32[b, h] each, hn being the recurrent part of n's
  pre-activation). The products run in the weights' dtype (float32, or bfloat16 for mixed precision) and
  accumulate in float32; the gates and the state are float32."""
  h = state.shape[-1]
  gi = jnp.dot(x_t, w_i, preferred_element_type=jnp.float32) + b_i  # [b, 3h]: r, z, n
  gh = jnp.dot(state.astype(w_h.dtype), w_h, preferred_element_type=jnp.float32)  # [b, 3h]
  r = jax.nn.sigmoid(gi[:, :h] + gh[:, :h])
  z = jax.nn.sigmoid(gi[:, h:2 * h] + gh[:, h:2 * h])
  hn = gh[:, 2 * h:] + b_hn
  n = jnp.tanh(gi[:, 2 * h:] + r * hn)
  return (1.0 - z) * n + z * state, (r, z, n, hn)


def _run(xs: tuple[jax.Array, jax.Array], held: jax.Array, cells, save: bool):
  """Both directions in one scan. xs: the forward direction's inputs [L, b, c] in time order and the
  backward direction's in reverse time order; held: bool[L, b, 1], in the backward direction's order, True
  where its state is held (positions at or past a sequence's end: the state stays 0 until the sequence
  starts). Returns the states, 2 x float32[L, b, h] (in the same orders), and with `save` the gates."""
  b, h = xs[0].shape[1], cells[0][2].shape[0]

  def step(states, inputs):
    x_f, x_b, hold = inputs
    (f, gates_f), (g, gates_b) = _cell(states[0], x_f, *cells[0]), _cell(states[1], x_b, *cells[1])
    new = (f, jnp.where(hold, states[1], g))
    return new, ((new, (gates_f, gates_b)) if save else new)

  zero = jnp.zeros((b, h), jnp.float32)
  return jax.lax.scan(step, (zero, zero), (*xs, held))[1]


@jax.custom_vjp
def _bigru_scan(xs, held, cells):
  return _run(xs, held, cells, save=False)


def _bigru_scan_forward(xs, held, cells):
  states, gates = _run(xs, held, cells, save=True)
  return states, (xs, held, cells, states, gates)


def _flat_t(a: jax.Array, b: jax.Array) -> jax.Array:
  """sum over the two leading axes of a[L, b, m] (x) b[L, b, n] -> float32[m, n], as one 2-D GEMM over the
  L x b rows: XLA's CPU backend runs that much faster than a dot contracting two axes at once."""
  return jax.lax.dot_general(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1]), (((0,), (0,)), ((), ())),
                             preferred_element_type=jnp.float32)


def _bigru_scan_backward(saved, cotangents):
  """Backpropagation through time by hand: the scan carries only the states' cotangents and makes one
  [b, 3h] x [3h, h] product per direction and step; the weights' and inputs' gradients are GEMMs over all
  time steps afterwards. Same values as autodiff of `_run` up to float summation order."""
  xs, held, cells, states, gates = saved
  b, h = states[0].shape[1], states[0].shape[2]
  before = tuple(jnp.concatenate([jnp.zeros((1, b, h), s.dtype), s[:-1]]) for s in states)  # state before each step

  def gate_cotangents(d, state, gates, w_h):
    r, z, n, hn = gates
    dz = d * (state - n) * z * (1.0 - z)
    dn = d * (1.0 - z) * (1.0 - n * n)
    dr = dn * hn * r * (1.0 - r)
    dgh = jnp.concatenate([dr, dz, dn * r], -1)  # [b, 3h]: the recurrent pre-activations' cotangents
    return d * z + jnp.dot(dgh.astype(w_h.dtype), w_h.T, preferred_element_type=jnp.float32), (dgh, dn)

  def step(carry, inputs):
    dy, state, gate, hold = inputs
    d_f, d_b = carry[0] + dy[0], carry[1] + dy[1]
    d_f, out_f = gate_cotangents(d_f, state[0], gate[0], cells[0][2])
    d_run, out_b = gate_cotangents(jnp.where(hold, 0.0, d_b), state[1], gate[1], cells[1][2])
    return (d_f, jnp.where(hold, d_b, d_run)), (out_f, out_b)

  zero = jnp.zeros((b, h), jnp.float32)
  _, outs = jax.lax.scan(step, (zero, zero), (cotangents, before, gates, held), reverse=True)
  dxs, dcells = [], []
  for x, (dgh, dn), state, (w_i, b_i, w_h, b_hn) in zip(xs, outs, before, cells):
    dgi = jnp.concatenate([dgh[..., :2 * h], dn], -1)  # [L, b, 3h]: the input pre-activations' cotangents
    dxs.append(jnp.dot(dgi.astype(w_i.dtype), w_i.T, preferred_element_type=jnp.float32).astype(x.dtype))
    dcells.append((_flat_t(x, dgi.astype(x.dtype)).astype(w_i.dtype), dgi.sum((0, 1)).astype(b_i.dtype),
                   _flat_t(state.astype(w_h.dtype), dgh.astype(w_h.dtype)).astype(w_h.dtype),
                   dgh[..., 2 * h:].sum((0, 1)).astype(b_hn.dtype)))
  return tuple(dxs), None, tuple(dcells)


_bigru_scan.defvjp(_bigru_scan_forward, _bigru_scan_backward)


class BiGRU(nn.Module):
  """Bidirectional GRU over padded sequences.

  Attributes:
    hidden: units per direction.
    dtype: the products' dtype (inputs and weights cast to it; the state stays float32).

  The scan runs one time step per iteration: unrolling it does not pay on CPU (BUILD.md, "Measurements
  behind code choices").
  """
  hidden: int
  dtype: str = "float32"

  @nn.compact
  def __call__(self, x: jax.Array, lengths: jax.Array) -> jax.Array:
    """x: [b, L, c], lengths: int32[b] -> float32[b, L, 2 * hidden]: at position t < lengths[b],
    the forward state after x[b, :t+1] and the backward state after x[b, t:lengths[b]] read right to left
    (positions past a sequence's end hold values of no meaning)."""
    cells = [_Direction(self.hidden, name=n)(x.shape[-1]) for n in ("forward_rnn", "backward_rnn")]
    cells = tuple((w_i.astype(self.dtype), b_i, w_h.astype(self.dtype), b_hn) for w_i, b_i, w_h, b_hn in cells)
    xs = jnp.moveaxis(x.astype(self.dtype), 1, 0)  # [L, b, c]
    held = (jnp.arange(x.shape[1])[:, None] >= lengths[None, :])[::-1, :, None]  # [L, b, 1], reversed
    forward, backward = _bigru_scan((xs, xs[::-1]), held, cells)  # [L, b, h] each, backward reversed
    return jnp.moveaxis(jnp.concatenate([forward, backward[::-1]], axis=-1), 0, 1)
