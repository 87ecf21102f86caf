"""Training: a step moves every parameter, a learnable task is learned, and resume equals no interruption."""

import dataclasses
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rcl.data.batching import batches
from rcl.data.dataset import Split
from rcl.data.encoding import encode_sequences
from rcl.models.cnn import CNN
from rcl.models.rnn import RNN
from rcl.train import steps
from rcl.train.fit_config import FitConfig
from rcl.train.loop import fit
from rcl.train.predict import mean_metrics, predict
from rcl.train.state import create_state

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def synthetic(n: int, seed: int, length: int = 64) -> Split:
  """Three learnable classes: each sequence is rich in A, C or G respectively."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 3, n).astype(np.int32)
  seqs = []
  for y in labels:
    probs = np.full(4, 0.1)
    probs[y] = 0.7
    seqs.append("".join(rng.choice(list("ACGT"), rng.integers(length // 2, length + 1), p=probs)))
  enc = encode_sequences(seqs, length)
  return Split([f"s{i}" for i in range(n)], seqs, enc.codes, enc.lengths, labels)


def small_cnn(reg=0.2):
  return CNN(num_classes=3, filters=8, blocks=3, dense=(16, 8), noise=reg, dropout=reg / 2)


def small_rnn():
  return RNN(num_classes=3, hidden=8, attention=8, dense=(16, 8, 8), noise=0.2, dropout=0.1)


@pytest.mark.parametrize("make, buckets", [(small_cnn, None), (small_rnn, (32, 64))])
def test_one_step_changes_every_parameter(make, buckets):
  split = synthetic(32, 0)
  batch = next(batches(split, 16, seed=0, bucket_lengths=buckets))[0]
  state = create_state(make(), batch, jax.random.key(0))
  new, sums = jax.jit(steps.train_step)(state, batch, jax.random.key(1))
  assert np.isfinite(float(sums["loss"])) and float(sums["count"]) == batch["mask"].sum() > 0
  unchanged = [jax.tree_util.keystr(p) for p, (a, b) in
               zip(jax.tree_util.tree_flatten_with_path(state.params)[0],
                   zip(jax.tree.leaves(state.params), jax.tree.leaves(new.params))) if np.array_equal(a, b)]
  assert not unchanged, f"parameters not updated: {unchanged}"
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(new.params))
  assert int(new.step) == 1


def test_learns_a_learnable_task():
  train, val = synthetic(600, 1), synthetic(150, 2)
  result = fit(small_cnn(), train, val, FitConfig(epochs=6, batch_size=32, seed=0))
  assert result.history["val_accuracy"][result.selected_epoch - 1] == max(result.history["val_accuracy"])
  assert mean_metrics(result.state, val)["accuracy"] >= 0.9
  assert result.history["train_loss"][-1] < result.history["train_loss"][0]


def test_rnn_learns_with_buckets():
  train, val = synthetic(400, 3), synthetic(100, 4)
  cfg = FitConfig(epochs=6, batch_size=32, seed=0, learning_rate=3e-3, bucket_lengths=(40, 64))
  result = fit(small_rnn(), train, val, cfg)
  assert mean_metrics(result.state, val, bucket_lengths=(40, 64))["accuracy"] >= 0.85


def _params(state):
  return [np.asarray(x) for x in jax.tree.leaves((state.params, state.batch_stats, state.opt_state))]


def test_resume_equals_uninterrupted(tmp_path):
  train, val = synthetic(96, 5), synthetic(32, 6)
  cfg = FitConfig(epochs=3, batch_size=32, seed=7, selection="last")
  full = fit(small_cnn(1.0), train, val, cfg, checkpoint_dir=str(tmp_path / "a"))
  # "Interrupted" after 1 epoch, then the same command again with the full epoch count.
  first = fit(small_cnn(1.0), train, val, FitConfig(epochs=1, batch_size=32, seed=7, selection="last"),
              checkpoint_dir=str(tmp_path / "b"))
  assert first.history["val_loss"] == full.history["val_loss"][:1]
  resumed = fit(small_cnn(1.0), train, val, cfg, checkpoint_dir=str(tmp_path / "b"))
  assert resumed.resumed_from == 1 and resumed.epochs_trained_now == 2
  for a, b in zip(_params(full.state), _params(resumed.state)):
    np.testing.assert_array_equal(a, b)
  assert resumed.history["val_loss"] == full.history["val_loss"]
  np.testing.assert_array_equal(predict(full.state, val)["probs"], predict(resumed.state, val)["probs"])


@pytest.mark.parametrize("make, buckets", [(small_cnn, None), (small_rnn, (32, 48, 64))])
def test_flank_augmented_resume_equals_uninterrupted(tmp_path, make, buckets):
  """Training flanks are drawn from (seed, epoch) alone: a run stopped after one epoch and resumed draws
  the flanks an uninterrupted run draws, and ends bit-identical."""
  train, val = synthetic(96, 5, length=40), synthetic(32, 6, length=40)
  train = dataclasses.replace(train, seq=np.pad(train.seq, ((0, 0), (0, 24))))  # room for flanks: width 64
  val = dataclasses.replace(val, seq=np.pad(val.seq, ((0, 0), (0, 24))))
  cfg = FitConfig(epochs=3, batch_size=32, seed=7, selection="last", augment_flanks=0.5, bucket_lengths=buckets)
  full = fit(make(), train, val, cfg, checkpoint_dir=str(tmp_path / "a"))
  fit(make(), train, val, dataclasses.replace(cfg, epochs=1), checkpoint_dir=str(tmp_path / "b"))
  resumed = fit(make(), train, val, cfg, checkpoint_dir=str(tmp_path / "b"))
  assert resumed.resumed_from == 1
  for a, b in zip(_params(full.state), _params(resumed.state)):
    np.testing.assert_array_equal(a, b)
  assert resumed.history["train_loss"] == full.history["train_loss"]
  plain = fit(make(), train, val, dataclasses.replace(cfg, augment_flanks=0.0))
  assert plain.history["train_loss"] != full.history["train_loss"]  # the flanks did change training


def test_resume_refuses_a_different_run(tmp_path):
  train, val = synthetic(64, 5), synthetic(32, 6)
  cfg = FitConfig(epochs=1, batch_size=32)
  fit(small_cnn(), train, val, cfg, checkpoint_dir=str(tmp_path), identity={"model": "x"})
  with pytest.raises(ValueError, match="model: x in the checkpoint, y now"):
    fit(small_cnn(), train, val, FitConfig(epochs=2, batch_size=32), checkpoint_dir=str(tmp_path),
        identity={"model": "y"})


def test_best_checkpoint_is_selected(tmp_path):
  train, val = synthetic(200, 8), synthetic(60, 9)
  result = fit(small_cnn(), train, val, FitConfig(epochs=4, batch_size=32), checkpoint_dir=str(tmp_path))
  best = int(np.argmax(result.history["val_accuracy"]))
  assert result.selected_epoch == best + 1
  assert np.isclose(mean_metrics(result.state, val)["accuracy"], result.history["val_accuracy"][best])


def test_lowest_validation_loss_selection(tmp_path):
  train, val = synthetic(200, 8), synthetic(60, 9)
  result = fit(small_cnn(reg=0.6), train, val, FitConfig(epochs=4, batch_size=32, selection="best_val_loss"),
               checkpoint_dir=str(tmp_path))
  best = int(np.argmin(result.history["val_loss"]))
  assert result.selected_epoch == best + 1
  assert np.isclose(mean_metrics(result.state, val)["loss"], result.history["val_loss"][best], rtol=1e-5)


def test_last_epoch_selection_is_what_the_checkpoint_holds(tmp_path):
  from rcl.train.checkpoint import load_selected  # noqa: PLC0415
  train, val = synthetic(200, 8), synthetic(60, 9)
  result = fit(small_cnn(), train, val, FitConfig(epochs=3, batch_size=32, selection="last"),
               checkpoint_dir=str(tmp_path))
  example = next(batches(val, 2))[0]
  restored, meta = load_selected(str(tmp_path), small_cnn(), example)
  assert result.selected_epoch == 3 and meta["best"]["epoch"] == 3  # features come from the selected model
  np.testing.assert_array_equal(predict(restored, val)["probs"], predict(result.state, val)["probs"])


def test_parameter_average_follows_every_step():
  split = synthetic(64, 0)
  batch = next(batches(split, 16, seed=0))[0]
  state = create_state(small_cnn(), batch, jax.random.key(0), ema_decay=0.9)
  seen = [state.params]
  step = jax.jit(steps.train_step)
  for i in range(3):
    state, _ = step(state, batch, jax.random.key(i))
    seen.append(state.params)
  # ema_3 = 0.9^3 p0 + 0.9^2 0.1 p1 + 0.9 0.1 p2 + 0.1 p3
  weights = [0.9 ** 3, 0.9 ** 2 * 0.1, 0.9 * 0.1, 0.1]
  expect = jax.tree.map(lambda *ps: sum(w * p for w, p in zip(weights, ps)), *seen)
  for a, b in zip(jax.tree.leaves(state.ema_params), jax.tree.leaves(expect)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  evaluated = state.for_evaluation()
  assert evaluated.ema_params is None and evaluated.params is state.ema_params and evaluated.opt_state is None
  assert create_state(small_cnn(), batch, jax.random.key(0)).ema_params is None  # off by default
  with pytest.raises(ValueError, match="ema_decay"):
    FitConfig(epochs=1, ema_decay=1.0)


def test_gradient_clipping_rescales_only_large_gradients():
  split = synthetic(32, 0)
  batch = next(batches(split, 16, seed=0))[0]
  state = create_state(small_cnn(), batch, jax.random.key(0), clip_norm=1.0)
  big = jax.tree.map(lambda p: jnp.full_like(p, 3.0), state.params)  # global norm >> 1
  small = jax.tree.map(lambda p: jnp.full_like(p, 1e-4), state.params)  # global norm < 1
  norm = float(optax.tree.norm(big))
  assert norm > 1.0 > float(optax.tree.norm(small))
  clipped = state.apply_gradients(grads=big).apply_gradients(grads=small)
  # The same as Adam on the big gradient rescaled to norm 1, then the small one untouched.
  adam = optax.adam(1e-3)
  opt, params = adam.init(state.params), state.params
  for g in (jax.tree.map(lambda x: x / norm, big), small):
    updates, opt = adam.update(g, opt, params)
    params = optax.apply_updates(params, updates)
  for a, b in zip(jax.tree.leaves(clipped.params), jax.tree.leaves(params)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  unclipped = create_state(small_cnn(), batch, jax.random.key(0))
  unclipped = unclipped.apply_gradients(grads=big).apply_gradients(grads=small)
  assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(clipped.params), jax.tree.leaves(unclipped.params)))
  with pytest.raises(ValueError, match="clip_norm"):
    FitConfig(epochs=1, clip_norm=-1.0)


def test_averaged_run_selects_validates_and_resumes_on_the_average(tmp_path):
  train, val = synthetic(200, 8), synthetic(60, 9)
  cfg = FitConfig(epochs=3, batch_size=32, seed=3, ema_decay=0.95, clip_norm=1.0)  # restored below by a plain state
  full = fit(small_cnn(), train, val, cfg, checkpoint_dir=str(tmp_path / "a"))
  best = int(np.argmax(full.history["val_accuracy"]))
  assert full.selected_epoch == best + 1 and full.state.ema_params is None
  # The history's validation accuracy is the averaged model's, and that is the model returned.
  assert np.isclose(mean_metrics(full.state, val)["accuracy"], full.history["val_accuracy"][best])
  raw = fit(small_cnn(), train, val, dataclasses.replace(cfg, ema_decay=0.0))
  assert raw.history["train_loss"] == full.history["train_loss"]  # averaging never touches training
  assert raw.history["val_loss"] != full.history["val_loss"]
  fit(small_cnn(), train, val, dataclasses.replace(cfg, epochs=1), checkpoint_dir=str(tmp_path / "b"))
  resumed = fit(small_cnn(), train, val, cfg, checkpoint_dir=str(tmp_path / "b"))
  assert resumed.resumed_from == 1 and resumed.history["val_loss"] == full.history["val_loss"]
  np.testing.assert_array_equal(predict(full.state, val)["probs"], predict(resumed.state, val)["probs"])
  # The 'best' checkpoint holds the averaged model as a plain state: restoring needs no averaging.
  from rcl.train.checkpoint import load_selected  # noqa: PLC0415
  example = next(batches(val, 2))[0]
  restored, meta = load_selected(str(tmp_path / "a"), small_cnn(), example)
  assert meta["best"]["epoch"] == full.selected_epoch
  np.testing.assert_array_equal(predict(restored, val)["probs"], predict(full.state, val)["probs"])


_PARALLEL = """
import jax, numpy as np
from tests.test_train import synthetic, small_cnn, small_rnn
from rcl.train.fit_config import FitConfig
from rcl.train.loop import fit
from rcl.train.predict import mean_metrics, predict
from rcl.train import sharding
sharding.request_cpu_devices(2)
assert len(jax.devices()) == 2, jax.devices()
train, val = synthetic(128, 1), synthetic(64, 2)
mesh = sharding.data_mesh()
# Noise and dropout on: every row draws by its position in the whole batch, so the sharded step equals the
# one-device step, BatchNorm statistics included (they are averaged over the 'data' axis).
from rcl.models import noise
key = jax.random.key(7)
split = jax.jit(jax.shard_map(lambda x: noise.example_fields16(key, x.shape, "data"), mesh=mesh,
                              in_specs=jax.P("data"), out_specs=jax.P("data")))
np.testing.assert_array_equal(np.asarray(split(np.zeros((8, 5, 3)))), np.asarray(noise.example_fields16(key, (8, 5, 3))))
for model, buckets in ((small_cnn(reg=0.4), None), (small_rnn().clone(noise=0.4, dropout=0.2), (40, 64))):
  cfg = FitConfig(epochs=4, batch_size=32, seed=0, selection="last", bucket_lengths=buckets)
  one = fit(model, train, val, cfg)
  two = fit(model, train, val, cfg, mesh=mesh)
  leaf = jax.tree.leaves(two.state.params)[0]
  assert len(leaf.sharding.device_set) == 2, leaf.sharding
  for a, b in zip(jax.tree.leaves((one.state.params, one.state.batch_stats)),
                  jax.tree.leaves((two.state.params, two.state.batch_stats))):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)
  np.testing.assert_allclose(one.history["train_loss"], two.history["train_loss"], rtol=1e-4)
  np.testing.assert_allclose(one.history["val_loss"], two.history["val_loss"], rtol=1e-4)
  p1 = predict(one.state, val, 16, bucket_lengths=buckets)["probs"]
  p2 = predict(two.state, val, 16, bucket_lengths=buckets, mesh=mesh)["probs"]
  np.testing.assert_allclose(p1, p2, rtol=1e-4, atol=1e-5)
  # The noise matters: without it the same run ends elsewhere.
  quiet = fit(model.clone(noise=0.0, dropout=0.0), train, val, cfg)
  assert not np.allclose(quiet.history["train_loss"], one.history["train_loss"], rtol=1e-3)
print("OK", mean_metrics(two.state, val, mesh=mesh))
"""


def test_data_parallel_matches_single_device():
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", _PARALLEL], cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_bucketed_training_compiles_once_per_bucket(monkeypatch):
  traced = []
  original = steps.train_step

  def counting(state, batch, key):
    traced.append(batch["seq"].shape)  # runs at trace time only
    return original(state, batch, key)

  monkeypatch.setattr(steps, "train_step", counting)
  train, val = synthetic(200, 13), synthetic(40, 14)
  result = fit(small_rnn(), train, val, FitConfig(epochs=3, batch_size=16, bucket_lengths=(40, 50, 64)))
  assert sorted(set(traced)) == sorted(traced) and len(traced) == 3  # 3 buckets, 3 epochs: 3 compilations
  assert len(result.history["val_loss"]) == 3


def test_a_second_run_of_an_equal_model_compiles_nothing(compilations):
  """Equal modules share their apply, init and optimiser, so a repeated run (a variance study's trial, a
  population's next member) reuses every compiled step, and still trains from its own seed."""
  train, val = synthetic(96, 17), synthetic(48, 18)
  cfg = FitConfig(epochs=2, batch_size=32, bucket_lengths=(40, 64), seed=3)
  first = fit(small_rnn(), train, val, cfg)
  with compilations() as compiled:
    again = fit(small_rnn(), train, val, cfg)
    other = fit(small_rnn(), train, val, dataclasses.replace(cfg, seed=4))
  assert compiled == []
  for a, b in zip(jax.tree.leaves(first.state.params), jax.tree.leaves(again.state.params)):
    np.testing.assert_array_equal(a, b)
  assert first.history["train_loss"] != other.history["train_loss"]


def test_attention_weights_per_sequence():
  from rcl.train.predict import attention_weights  # noqa: PLC0415
  train, val = synthetic(64, 15), synthetic(20, 16)
  result = fit(small_rnn(), train, val, FitConfig(epochs=1, batch_size=16, bucket_lengths=(40, 64)))
  weights = attention_weights(result.state, val, bucket_lengths=(40, 64))
  assert [w.shape[0] for w in weights] == val.lengths.tolist()
  np.testing.assert_allclose([w.sum() for w in weights], 1.0, rtol=1e-5)


def test_each_seed_source_drives_only_its_own_randomness():
  """--seed alone equals every source seed set to it; the 'init' seed sets the initial parameters only, the
  'order' seed the batch order only, the 'noise' seed the noise and dropout only."""
  from rcl.train.loop import init_key, step_key  # noqa: PLC0415
  train, val = synthetic(64, 21), synthetic(32, 22)
  base = FitConfig(epochs=2, batch_size=16, seed=3, selection="last")
  same = dataclasses.replace(base, seed=0, init_seed=3, order_seed=3, noise_seed=3)
  a, b = fit(small_cnn(), train, val, base), fit(small_cnn(), train, val, same)
  for x, y in zip(jax.tree.leaves(a.state.params), jax.tree.leaves(b.state.params)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  varied = {s: dataclasses.replace(base, **{f"{s}_seed": 4}) for s in ("init", "order", "noise")}
  assert not np.array_equal(jax.random.key_data(init_key(varied["init"])), jax.random.key_data(init_key(base)))
  for source in ("order", "noise"):
    np.testing.assert_array_equal(jax.random.key_data(init_key(varied[source])), jax.random.key_data(init_key(base)))
  for source in ("init", "order"):
    np.testing.assert_array_equal(jax.random.key_data(step_key(varied[source])), jax.random.key_data(step_key(base)))
  orders = {s: [idx.tolist() for _, idx in batches(train, 16, seed=c.seed_of("order"), epoch=1)]
            for s, c in (("base", base), *varied.items())}
  assert orders["init"] == orders["base"] == orders["noise"] != orders["order"]
  histories = {s: fit(small_cnn(), train, val, c).history["train_loss"] for s, c in varied.items()}
  assert len({tuple(h) for h in histories.values()} | {tuple(a.history["train_loss"])}) == 4
