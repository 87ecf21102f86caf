"""Model shapes, train/eval behaviour, and the RNN's invariance to padding."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rcl.models import cnn, inputs, monikers
from rcl.models.cnn import CNN, max_pool2
from rcl.models.gru import BiGRU
from rcl.models.rnn import RNN


def _batch(b=4, length=64, seed=0, sec=False):
  rng = np.random.default_rng(seed)
  lengths = rng.integers(5, length + 1, b).astype(np.int32)
  seq = rng.integers(1, 5, (b, length)).astype(np.uint8)
  seq[np.arange(length)[None] >= lengths[:, None]] = 0
  batch = {"seq": seq, "length": lengths}
  if sec:
    batch["sec"] = np.where(seq > 0, rng.integers(1, 4, (b, length)), 0).astype(np.uint8)
  return batch


@pytest.mark.parametrize("kind", ["seq", "sec", "seq+sec"])
def test_cnn_shapes(kind):
  model = CNN(num_classes=7, filters=8, dense=(16, 12), input_kind=kind)
  batch = _batch(sec=True)
  variables = model.init(jax.random.key(0), batch, train=False)
  out = model.apply(variables, batch, train=False)
  assert out["logits"].shape == (4, 7) and out["ld"].shape == (4, 12)
  assert variables["params"]["Conv_0"]["kernel"].shape == (5, {"seq": 8, "sec": 3, "seq+sec": 11}[kind], 8)
  assert "batch_stats" in variables


@pytest.mark.parametrize("kernel,blocks,kind", [(5, 3, "seq"), (4, 2, "seq+sec")])
def test_cnn_windowed_inference_equals_full_width(kernel, blocks, kind):
  """A batch cut to an inference window gives what the full-width batch gives, for every window and rows
  up to its capacity (the convolution stack over the window, joined to the all-padding input's)."""
  length = 96
  model = CNN(num_classes=5, filters=6, kernel_size=kernel, blocks=blocks, dense=(16, 8), input_kind=kind,
              length=length)
  batch = _batch(b=48, length=length, seed=kernel, sec=True)
  batch["length"] = np.arange(1, 97, 2, dtype=np.int32)  # every length class
  outside = np.arange(length)[None] >= batch["length"][:, None]
  batch["seq"][outside], batch["sec"][outside] = 0, 0
  batch["seq"][20, :] = np.where(outside[20], 0, 5)  # ambiguity codes (zero rows) inside a sequence
  variables = model.init(jax.random.key(1), batch, train=False)
  # Non-zero biases and BatchNorm shifts, so that padding does not stay zero through the stack.
  variables = {"params": jax.tree.map(lambda v: v + 0.1 * jax.random.normal(jax.random.key(2), v.shape),
                                      variables["params"]), "batch_stats": variables["batch_stats"]}
  full = model.apply(variables, batch, train=False)
  widths, capacities = cnn.windows(length, kernel, blocks, step=2 ** blocks * 2)
  assert widths[-1] == capacities[-1] == length and len(widths) > 2
  assert all(c < w for w, c in zip(widths[:-1], capacities[:-1]))
  for width, capacity in zip(widths[:-1], capacities[:-1]):
    rows = np.flatnonzero(batch["length"] <= capacity)
    assert rows.size
    window = {k: (v[rows, :width] if v.ndim == 2 else v[rows]) for k, v in batch.items()}
    out = model.apply(variables, window, train=False)
    for name in ("logits", "ld"):
      np.testing.assert_allclose(out[name], np.asarray(full[name])[rows], rtol=1e-6, atol=1e-6)
    # One step past its capacity a window no longer holds the whole receptive field of the kept positions.
    assert cnn.zero_start(capacity + 1, kernel, blocks) > cnn.exact_prefix(width, kernel, blocks)
  with pytest.raises(ValueError, match="full-width batches only"):
    model.apply(variables, {k: v[:, :widths[0]] if v.ndim == 2 else v for k, v in batch.items()}, train=True,
                rngs={"noise": jax.random.key(0), "dropout": jax.random.key(0)}, mutable=["batch_stats"])


def test_cnn_noise_only_in_training():
  model = CNN(num_classes=3, filters=4, dense=(8, 4))
  batch = _batch()
  v = model.init(jax.random.key(0), batch, train=False)
  a = model.apply(v, batch, train=False)["logits"]
  np.testing.assert_array_equal(a, model.apply(v, batch, train=False)["logits"])

  def train_out(seed):
    rngs = {"noise": jax.random.key(seed), "dropout": jax.random.key(seed + 1)}
    return model.apply(v, batch, train=True, rngs=rngs, mutable=["batch_stats"])[0]["logits"]
  np.testing.assert_array_equal(train_out(1), train_out(1))
  assert not np.allclose(train_out(1), train_out(2))


@pytest.mark.parametrize("kind", ["seq", "sec", "seq+sec"])
def test_rnn_shapes_and_attention(kind):
  model = RNN(num_classes=5, hidden=8, attention=6, dense=(12, 10, 4), input_kind=kind)
  batch = _batch(sec=True)
  variables = model.init(jax.random.key(0), batch, train=False)
  out = model.apply(variables, batch, train=False)
  assert out["logits"].shape == (4, 5) and out["ld"].shape == (4, 4) and out["attention"].shape == (4, 64)
  att = np.asarray(out["attention"])
  np.testing.assert_allclose(att.sum(-1), 1.0, rtol=1e-5)
  assert (att[np.arange(64)[None] >= batch["length"][:, None]] == 0).all()
  assert set(variables["params"]["bigru"]) == {"forward_rnn", "backward_rnn"}


def test_rnn_output_does_not_depend_on_padding():
  model = RNN(num_classes=3, hidden=8, attention=6, dense=(8, 8, 4))
  batch = _batch(b=3, length=40, seed=1)
  v = model.init(jax.random.key(0), batch, train=False)
  ref = model.apply(v, batch, train=False)
  rng = np.random.default_rng(5)
  # Same sequences padded to 128 with junk past their ends, in a bigger batch with other neighbours.
  other = _batch(b=5, length=128, seed=9)
  seq = np.concatenate([np.pad(batch["seq"], ((0, 0), (0, 88))), other["seq"]])
  for i, n in enumerate(batch["length"]):
    seq[i, n:] = rng.integers(0, 5, 128 - n)
  big = {"seq": seq, "length": np.concatenate([batch["length"], other["length"]])}
  out = model.apply(v, big, train=False)
  np.testing.assert_allclose(out["logits"][:3], ref["logits"], atol=1e-5)
  np.testing.assert_allclose(out["ld"][:3], ref["ld"], atol=1e-5)
  np.testing.assert_allclose(out["attention"][:3, :40], ref["attention"], atol=1e-6)


@pytest.mark.parametrize("shape", [(8, 8), (128, 128), (40, 8), (8, 24), (2, 6, 4)])
def test_orthogonal_init_is_flax_s_without_lapack(shape):
  """Gram-Schmidt on flax's Gaussian matrix: orthonormal rows or columns, flax's values up to rounding."""
  from rcl.models.orthogonal import orthogonal  # noqa: PLC0415
  ours = np.asarray(orthogonal()(jax.random.key(3), shape)).reshape(-1, shape[-1])
  theirs = np.asarray(nn.initializers.orthogonal()(jax.random.key(3), shape)).reshape(-1, shape[-1])
  np.testing.assert_allclose(ours, theirs, atol=2e-6)
  gram = ours.T @ ours if ours.shape[0] >= ours.shape[1] else ours @ ours.T
  np.testing.assert_allclose(gram, np.eye(len(gram)), atol=2e-6)
  assert not np.array_equal(ours, np.asarray(orthogonal()(jax.random.key(4), shape)).reshape(ours.shape))


@pytest.mark.parametrize("kind", ["seq", "seq+sec"])
def test_bigru_is_flax_bidirectional_gru(kind):
  """The fused one-scan BiGRU has flax's parameters (same tree, the same initial values up to the rounding of
  the recurrent kernels' factorisation, `rcl.models.orthogonal`) and, inside every sequence, flax's outputs
  and gradients."""
  hidden = 16
  batch = _batch(b=6, length=37, seed=4, sec=True)
  x, lengths = inputs.embed(batch, kind), jnp.asarray(batch["length"])
  flax_gru = nn.Bidirectional(nn.RNN(nn.GRUCell(hidden)), nn.RNN(nn.GRUCell(hidden)))
  ours = BiGRU(hidden)
  v = flax_gru.init(jax.random.key(3), x, seq_lengths=lengths)
  mine = ours.init(jax.random.key(3), x, lengths)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), v, mine)
  inside = (np.arange(x.shape[1])[None, :] < batch["length"][:, None])[..., None]
  ref = flax_gru.apply(v, x, seq_lengths=lengths)
  out = ours.apply(v, x, lengths)
  assert out.shape == (6, 37, 2 * hidden)
  np.testing.assert_allclose(np.where(inside, out, 0), np.where(inside, ref, 0), atol=1e-6)

  def loss(module, **kw):  # our backward pass is written by hand (custom_vjp): parameters' and inputs' gradients
    return lambda p, x: jnp.sum(jnp.where(inside, module.apply(p, x, **kw), 0.0) ** 2)
  g_ref = jax.grad(loss(flax_gru, seq_lengths=lengths), argnums=(0, 1))(v, x)
  g = jax.grad(loss(ours, lengths=lengths), argnums=(0, 1))(v, x)
  assert float(jnp.abs(g[1]).max()) > 0.1
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), g, g_ref)


def test_monikers_are_configurations():
  assert [m.name for m in monikers.parse_monikers("A,E,G")] == ["A", "E", "G"]
  with pytest.raises(ValueError, match="unknown model moniker"):
    monikers.parse_monikers("A,Z")
  a = monikers.build(monikers.MONIKERS["A"], 13)
  b = monikers.build(monikers.MONIKERS["B"], 13)
  d = monikers.build(monikers.MONIKERS["D"], 13)
  f = monikers.build(monikers.MONIKERS["F"], 13)
  assert type(a) is type(b) is type(d) is CNN and (a.filters, b.filters, d.input_kind) == (256, 128, "sec")
  assert isinstance(f, RNN) and f.input_kind == "seq+sec"
  assert (a.noise, a.dropout) == (1.0, 0.5)
  low = monikers.build(monikers.MONIKERS["A"], 13, monikers.Hyper(reg_level=1.8))
  assert (low.noise, low.dropout) == (1.8, 0.9)
  with pytest.raises(ValueError):
    monikers.Hyper(reg_level=2.0)


def test_rnn_noise_is_added_at_unit_scale():
  """sigma = lambda must mean what it means in the CNN: noise on BatchNorm-scaled features, not on the raw
  attention-pooled GRU outputs, which differ between sequences by only a few hundredths."""
  model = RNN(num_classes=3, hidden=16, attention=8, dense=(8, 8, 4), noise=1.0, dropout=0.0)
  batch = _batch(b=64, length=48, seed=3)
  v = model.init(jax.random.key(0), batch, train=False)
  rngs = {"noise": jax.random.key(1), "dropout": jax.random.key(2)}
  (_, state) = model.apply(v, batch, train=True, rngs=rngs, mutable=["batch_stats", "intermediates"],
                           capture_intermediates=True)
  pooled = np.asarray(state["intermediates"]["pool"]["__call__"][0][0])
  normed = np.asarray(state["intermediates"]["norm"]["__call__"][0])
  noisy = np.asarray(state["intermediates"]["gaussian"]["__call__"][0])
  assert pooled.std(0).mean() < 0.2  # the raw pooled vector: far below unit scale
  np.testing.assert_allclose(normed.std(0), 1.0, atol=0.02)  # what the noise is added to
  assert abs((noisy - normed).std() - 1.0) < 0.05  # sigma = lambda = 1 on that scale
  assert "norm" in v["batch_stats"]


@pytest.mark.parametrize("arch", ["cnn", "rnn"])
def test_bfloat16_compute_keeps_float32_parameters_and_outputs(arch):
  """Mixed precision: the same parameters, float32 outputs within bfloat16 rounding of the float32 model's,
  and float32 gradients."""
  name = "A" if arch == "cnn" else "E"
  batch = _batch(b=6, length=96, seed=3)
  build = lambda dtype: monikers.build(monikers.MONIKERS[name], 5, monikers.Hyper(  # noqa: E731
      cnn_filters=8, cnn_dense=(16, 8), rnn_hidden=8, rnn_attention=8, rnn_dense=(8, 8, 4), compute_dtype=dtype))
  variables = build("float32").init(jax.random.key(0), batch, train=False)
  assert jax.tree.structure(build("bfloat16").init(jax.random.key(0), batch, train=False)) == \
      jax.tree.structure(variables)
  ref = build("float32").apply(variables, batch, train=False)
  out = build("bfloat16").apply(variables, batch, train=False)
  for k in ("logits", "ld"):
    assert out[k].dtype == jnp.float32
    rel = float(jnp.linalg.norm(out[k] - ref[k]) / jnp.linalg.norm(ref[k]))
    assert 0 < rel < 3e-2, (k, rel)  # rounded (not float32 underneath), yet close

  def loss(params):
    logits = build("bfloat16").apply(dict(variables, params=params), batch, train=False)["logits"]
    return jnp.mean(jax.nn.logsumexp(logits, -1) - logits[:, 0])

  grads = jax.grad(loss)(variables["params"])
  assert all(g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
  # Checkpoints from before the option stay the float32 model's; a bfloat16 model is another model.
  from rcl.experiment.identity import model_identity  # noqa: PLC0415
  assert "dtype" not in model_identity(build("float32")) and model_identity(build("bfloat16"))["dtype"] == "bfloat16"


def test_noise_and_dropout_draws_have_their_distributions():
  """16-bit draws (`noise.fields16`): uniform fields, unit normal noise, dropout keeping 1 - rate (also for a
  traced rate under vmap), different keys giving different draws."""
  from rcl.models import noise  # noqa: PLC0415
  f = np.asarray(noise.fields16(jax.random.key(0), (300, 1001)))  # odd last axis
  assert f.shape == (300, 1001) and f.min() >= 0 and f.max() < 2 ** 16
  scalars = {int(noise.fields16(k, ())) for k in jax.random.split(jax.random.key(9), 20)}
  assert len(scalars) > 15 and noise.fields16(jax.random.key(0), (3, 0)).shape == (3, 0)
  counts = np.bincount(f.ravel() >> 12, minlength=16)  # 16 equal cells: chi-square, 15 dof
  assert ((counts - f.size / 16) ** 2 / (f.size / 16)).sum() < 50
  z = np.asarray(noise.normal16(noise.fields16(jax.random.key(1), (1000, 1000)), jnp.float32))
  assert abs(z.mean()) < 5e-3 and abs(z.std() - 1) < 5e-3 and 4 < np.abs(z).max() < 4.4
  assert abs(np.mean(np.abs(z) > 1.96) - 0.05) < 2e-3  # the tails of a normal
  x = jnp.ones((200, 500))
  drop = lambda rate, key: noise.Dropout(rate).apply({}, x, False, rngs={"dropout": key})  # noqa: E731
  out = np.asarray(drop(0.3, jax.random.key(2)))
  assert abs((out != 0).mean() - 0.7) < 5e-3 and np.allclose(out[out != 0], 1 / 0.7)
  rates = jnp.asarray([0.1, 0.5, 0.9])
  kept = jax.vmap(lambda r, k: (drop(r, k) != 0).mean())(rates, jax.random.split(jax.random.key(3), 3))
  np.testing.assert_allclose(np.asarray(kept), [0.9, 0.5, 0.1], atol=7e-3)  # 4.4 sd of a share of 1e5 at 0.5
  assert not np.array_equal(out, np.asarray(drop(0.3, jax.random.key(4))))


def test_noise_and_dropout_draw_by_row_of_the_global_batch():
  """Row i draws from the layer's key folded with i's position: rows differ, and a row's draw does not depend
  on the rows after it (a batch split over devices: tests/test_train.py)."""
  from rcl.models import noise  # noqa: PLC0415
  key, shape = jax.random.key(5), (8, 6, 3)
  whole = np.asarray(noise.example_fields16(key, shape))
  assert whole.shape == shape and len({whole[i].tobytes() for i in range(8)}) == 8
  np.testing.assert_array_equal(whole[:5], np.asarray(noise.example_fields16(key, (5, 6, 3))))
  x = jnp.ones((8, 6, 3))
  layers = lambda axis: (noise.Dropout(0.4, axis), noise.GaussianNoise(0.7, axis))  # noqa: E731
  for layer, stream in zip(layers(None), ("dropout", "noise")):
    full = np.asarray(layer.apply({}, x, False, rngs={stream: jax.random.key(6)}))
    np.testing.assert_array_equal(np.asarray(layer.apply({}, x[:3], False, rngs={stream: jax.random.key(6)})),
                                  full[:3])


@pytest.mark.parametrize("width", [10, 11, 125])
def test_max_pool2_is_flax_max_pool_with_its_gradient(width):
  """The CNN's pooling has flax's values and, with many tied maxima, exactly flax's gradient (all of it to
  the first of a tied pair), for even and odd widths."""
  rng = np.random.default_rng(width)
  x = jnp.asarray(rng.integers(0, 3, (4, width, 6)).astype(np.float32))
  g = jnp.asarray(rng.normal(size=(4, width // 2, 6)).astype(np.float32))

  def reference(x):
    return nn.max_pool(x, (2,), strides=(2,))
  np.testing.assert_array_equal(max_pool2(x), reference(x))
  ours, theirs = jax.vjp(max_pool2, x)[1](g)[0], jax.vjp(reference, x)[1](g)[0]
  assert float(jnp.abs(ours).sum()) > 1.0
  np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("head", ["max", "max_mean", "window"])
def test_pooled_cnn_head_reads_any_width_the_same(head):
  """A pooled head leaves out the positions past each record, so the padded width does not change the
  output: the same records in a batch of width 64 and of width 160 give the same logits and features."""
  model = CNN(num_classes=5, filters=8, blocks=3, dense=(16, 8), head=head)
  narrow = _batch(b=6, length=64, seed=3)
  wide = {"seq": np.pad(narrow["seq"], ((0, 0), (0, 96))), "length": narrow["length"]}
  variables = model.init(jax.random.key(0), narrow, train=False)
  a, b = model.apply(variables, narrow, train=False), model.apply(variables, wide, train=False)
  np.testing.assert_allclose(a["logits"], b["logits"], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(a["ld"], b["ld"], rtol=1e-5, atol=1e-5)
  if head == "window":  # the first dense layer slid over the positions: a convolution of width head_width
    assert variables["params"]["Conv_3"]["kernel"].shape == (8, 8, 16)
    assert variables["params"]["Dense_0"]["kernel"].shape == (16, 8)
  else:
    assert variables["params"]["Dense_0"]["kernel"].shape[0] == 8 * (2 if head == "max_mean" else 1)


def test_flatten_head_keeps_older_checkpoints_identity():
  from rcl.experiment.identity import model_identity  # noqa: PLC0415
  text = model_identity(CNN(num_classes=3))
  assert "head" not in text and "dtype" not in text
  assert model_identity(CNN(num_classes=3, head="max"))["head"] == "max"
