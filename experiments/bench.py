"""Throughput benchmark: `python -m experiments.bench [--models=A,E] [--steps=20]`.

Prints one JSON line per measurement (same fields as ../shared/bench/keras_reference.py) and a summary:
- CNN A at the paper's settings (1000 x 8 inputs, 256 filters, batch 64 training, 256 inference):
  training and inference sequences per second, compile time, peak memory; and inference over the Test13
  training split through exact windows (`rcl.models.cnn.windows`), the path `rcl classify` takes.
- RNN E on real Test13 training batches: a full bucketed epoch, and steps padded to 1000 (the paper's
  way) extrapolated to the same epoch, giving the bucketing speed-up as one ratio from one run.
- RNN E inference (batch 256) over the same split, bucketed and padded to 1000; the shipped collaborative
  bundle's inference, its own path (buckets, CNN windows) and padded to its full width.
- The regularisation population's step vmapped over members against the members' steps one by one, and
  the wall time of a sweep epoch against its members trained alone.
- Training is measured on one device and, where there are several (on a CPU: --cpu_devices, one per
  core by default), data parallel over all of them.
Speed is measured here, on demand, never asserted in tests. The process restarts itself once with huge
pages for malloc, as the `rcl` command and `experiments.run` do (rcl/allocator.py).
"""

import functools
import itertools
import json
import os
import resource
import time

import jax
from absl import app, flags

from experiments import timing
from rcl import allocator
from rcl.config import ExperimentConfig
from rcl.data import location
from rcl.data.batching import batches, plan_batches
from rcl.data.dataset import load_dataset
from rcl.models import cnn, monikers, noise
from rcl.train import predict, sharding, steps
from rcl.train.state import create_state

_DATA_DIR = flags.DEFINE_string("data_dir", None, "Directory holding nrc/ (default: rcl/data/location.py's rule).")
_MODELS = flags.DEFINE_list("models", ["A", "E", "C", "P"],
                            "What to measure: A (CNN), E (RNN training and inference), C (the shipped collaborative "
                            "model's inference), P (regularisation population vs sequential).")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per fixed-shape measurement.")
_PADDED_STEPS = flags.DEFINE_integer("padded_steps", 5, "Timed RNN steps padded to 1000.")
_POPULATION = flags.DEFINE_list("population_levels", ["0", "0.6", "1.2", "1.8"],
                                "Levels of the vmapped population measured against sequential training (P).")
_CPU_DEVICES = flags.DEFINE_integer("cpu_devices", os.cpu_count(),
                                    "Host devices on a CPU (one per core) for the data-parallel RNN measurement.")
_RNN_HIDDEN = flags.DEFINE_integer("rnn_hidden", 64, "GRU units per direction of RNN E (64: the Keras reference's "
                                  "width; the flagfiles train 128).")
_POP_FILTERS = flags.DEFINE_integer("population_filters", 64, "CNN filters for the population measurement.")
_COMPUTE_DTYPE = flags.DEFINE_enum("compute_dtype", "float32", ["float32", "bfloat16"],
                                   "The components' arithmetic dtype (monikers.Hyper.compute_dtype).")
_BUCKETS = ExperimentConfig().rnn_buckets


def _peak_memory_mb() -> float:
  stats = jax.devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    return stats["peak_bytes_in_use"] / 2**20
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # host RSS, KiB on Linux


def _hyper(**overrides) -> monikers.Hyper:
  return monikers.Hyper(compute_dtype=_COMPUTE_DTYPE.value, **overrides)


def _emit(**fields):
  fields = {"framework": "jax-flax", "jax": jax.__version__, "backend": jax.default_backend(),
            "dtype": _COMPUTE_DTYPE.value, **fields}
  print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in fields.items()}), flush=True)
  return fields


def _first(split, batch_size, n=None, **kwargs):
  """The first `n` batches (all: None) of `split`, as `rcl.data.batching.batches` yields them, without indices."""
  return [b for b, _ in itertools.islice(batches(split, batch_size, **kwargs), n)]


def _setups(model, state):
  """(name, jitted train step, batch placement, state): one device, and data parallel over all devices."""
  setups = [("1 device", jax.jit(steps.train_step), jax.device_put, state)]
  if len(jax.devices()) > 1:
    mesh = sharding.data_mesh()
    state = state.replace(apply_fn=sharding.sharded_model(model).apply)
    setups.append((f"{len(jax.devices())} devices, data parallel",
                   jax.jit(sharding.data_parallel(steps.train_step, mesh, extra_args=1)),
                   lambda b: sharding.shard_batch(b, mesh),
                   sharding.replicate(state, mesh)))
  return setups


def _one_pass(fn, state, device_batches, call, *args) -> timing.Timing:
  """Compiles `fn(state, batch, *args)` for each padded length in `device_batches` (one call each), then times
  `call(fn, i)` over every batch as one pass."""
  lengths = sorted({b["seq"].shape[1] for b in device_batches})
  shapes = [next(b for b in device_batches if b["seq"].shape[1] == n) for n in lengths]
  return timing.compile_then_time(lambda: timing.warm(fn, *((state, b, *args) for b in shapes)), call,
                                  len(device_batches), each=False)


def bench_cnn(data, n_steps):
  model = monikers.build(monikers.MONIKERS["A"], len(data.classes), _hyper())
  train = data.splits["train"]
  state = create_state(model, jax.device_put(_first(train, 64, 1)[0]), jax.random.key(0))
  key = jax.random.key(1)
  out = []
  for name, step, place, start in _setups(model, state):
    train_batches = [place(b) for b in _first(train, 64, n_steps, seed=0)]
    t = timing.compile_then_time(functools.partial(timing.aot, step, start, train_batches[0], key),
                                 timing.Steps(start, train_batches, key).run, n_steps, warmup=1)
    out.append(_emit(model="A", mode="train", devices=name, batch=64, seq_per_s=64 / t.median, step_s_median=t.median,
                     step_s_min=min(t.times), step_s_max=max(t.times), compile_s=t.compile_s,
                     peak_mem_mb=_peak_memory_mb()))
  infer_batches = jax.device_put(_first(train, 256, 4))
  t = timing.compile_then_time(functools.partial(timing.aot, jax.jit(steps.predict_step), state, infer_batches[0]),
                               lambda predict_fn, i: predict_fn(state, infer_batches[i % 4]), max(n_steps // 2, 3),
                               warmup=1)
  out.append(_emit(model="A", mode="inference", batch=256, seq_per_s=256 / t.median, step_s_median=t.median,
                   compile_s=t.compile_s, peak_mem_mb=_peak_memory_mb()))
  # The classification path: each sequence through the narrowest exact window that holds it (rcl.models.cnn).
  width = train.seq.shape[1]
  reader = monikers.build(monikers.MONIKERS["A"], len(data.classes), _hyper(), length=width)
  widths, capacities = cnn.windows(width, reader.kernel_size, reader.blocks)
  seconds = timing.second_call_s(functools.partial(predict.predict, state.replace(apply_fn=reader.apply), train, 256,
                                                   bucket_lengths=widths, capacities=capacities))
  out.append(_emit(model="A", mode="inference", padding="windows " + ",".join(map(str, widths)), batch=256,
                   seq_per_s=len(train) / seconds, sequences=len(train), seconds=seconds))
  print(f"CNN A inference: {256 / t.median:.0f} seq/s at full width {width}, {len(train) / seconds:.0f} seq/s "
        f"through exact windows (the classification path) over the {len(train)} training sequences", flush=True)
  return out


def _rnn_epoch(state, train, step, place, bucket_lengths, max_batches=None):
  """Compiles every shape, then times one epoch (or its first `max_batches`, extrapolated)."""
  plan = plan_batches(train, 64, seed=0, bucket_lengths=bucket_lengths)
  epoch = [place(b) for b in _first(train, 64, max_batches, seed=0, bucket_lengths=bucket_lengths)]
  key = jax.random.key(1)
  t = _one_pass(step, state, epoch, timing.Steps(state, epoch, key).run, key)
  return t.total * len(plan) / len(epoch), t.compile_s, len(plan)


def bench_rnn(data, padded_steps, hidden):
  """RNN E epochs over Test13 at batch 64: bucketed and padded to 1000, on one device and on all."""
  model = monikers.build(monikers.MONIKERS["E"], len(data.classes), _hyper(rnn_hidden=hidden))
  train = data.splits["train"]
  state = create_state(model, jax.device_put(_first(train, 64, 1)[0]), jax.random.key(0))
  out = []
  for name, step, place, start in _setups(model, state):
    epoch_s, compile_s, n_batches = _rnn_epoch(start, train, step, place, _BUCKETS)
    out.append(_emit(model="E", hidden=hidden, mode="train", devices=name,
                     padding="buckets " + ",".join(map(str, _BUCKETS)), batch=64, seq_per_s=len(train) / epoch_s,
                     epoch_s=epoch_s, batches=n_batches,
                     compile_s=compile_s, peak_mem_mb=_peak_memory_mb()))
    padded_s, compile_s, n_padded = _rnn_epoch(start, train, step, place, None, padded_steps)
    out.append(_emit(model="E", hidden=hidden, mode="train", devices=name, padding="1000", batch=64,
                     seq_per_s=len(train) / padded_s, epoch_s_extrapolated=padded_s, batches=n_padded,
                     compile_s=compile_s, peak_mem_mb=_peak_memory_mb()))
    print(f"RNN E ({hidden} units) epoch over {len(train)} sequences, {name}: {epoch_s:.1f} s bucketed vs "
          f"{padded_s:.1f} s padded to 1000 ({padded_s / epoch_s:.1f}x)", flush=True)
  return out


def bench_rnn_inference(data, hidden, padded_batches):
  """RNN E inference (batch 256) over the Test13 training split: length-bucketed, and padded to 1000 (the
  first `padded_batches` batches)."""
  model = monikers.build(monikers.MONIKERS["E"], len(data.classes), _hyper(rnn_hidden=hidden))
  train = data.splits["train"]
  state = create_state(model, jax.device_put(_first(train, 64, 1)[0]), jax.random.key(0))
  predict_fn = jax.jit(steps.predict_step)
  rates = {}
  for padding, lengths, limit in (("buckets", _BUCKETS, None), ("1000", None, padded_batches)):
    device_batches = jax.device_put(_first(train, 256, limit, bucket_lengths=lengths))
    seconds = _one_pass(predict_fn, state, device_batches, lambda fn, i: fn(state, device_batches[i])).total
    n = int(sum(float(b["mask"].sum()) for b in device_batches))
    rates[padding] = n / seconds
    _emit(model="E", hidden=hidden, mode="inference", padding=padding, batch=256, seq_per_s=n / seconds,
          sequences=n, seconds=seconds)
  print(f"RNN E ({hidden} units) inference: {rates['buckets']:.0f} seq/s bucketed, {rates['1000']:.0f} padded to "
        f"1000 ({rates['buckets'] / rates['1000']:.1f}x)", flush=True)


def bench_collaborative_inference(data):
  """The shipped collaborative bundle (LD(A)+LD(E), small profile) over the Test13 training split, batch 256:
  its inference path (`shapes="fast"`: E in length buckets, A through its exact windows, the MLP on their
  features) and padded (`shapes="padded"`: E and A at the full 512)."""
  from rcl import bundle  # noqa: PLC0415
  from rcl.cli.model_lookup import shipped  # noqa: PLC0415
  from rcl.data.dataset import Split  # noqa: PLC0415
  from rcl.data.encoding import encode_sequences  # noqa: PLC0415
  if not shipped():
    return
  model = bundle.load(shipped()[0])
  train = data.splits["train"]
  enc = encode_sequences(list(train.sequences), model.meta["max_len"])
  split = Split(list(train.ids), list(train.sequences), enc.codes, enc.lengths, train.labels)
  for padding, shapes in (("buckets", "fast"), ("512", "padded")):
    seconds = timing.second_call_s(functools.partial(model.predict, split, shapes=shapes))
    _emit(model=model.meta["model"], mode="inference", padding=padding, batch=model.meta["eval_batch_size"],
          seq_per_s=len(split) / seconds, sequences=len(split), seconds=seconds)


def bench_population(data, levels, filters, n_steps):
  """One vmapped step over len(levels) CNNs (the population on accelerators) against len(levels) single-model
  steps (the population on a CPU, `population.one_by_one`), same batches."""
  from rcl.train.population import member_train_step, stack_states  # noqa: PLC0415
  model = monikers.build(monikers.MONIKERS["A"], len(data.classes), _hyper(cnn_filters=filters))
  train = data.splits["train"]
  batch_list = jax.device_put(_first(train, 64, n_steps, seed=0))
  key = jax.random.key(1)
  members = [create_state(model, batch_list[0], jax.random.key(i)) for i in range(len(levels))]
  stacked = stack_states([m.replace(tx=members[0].tx) for m in members])
  level_array = jax.numpy.asarray(levels, jax.numpy.float32)
  keys = jax.numpy.stack([key] * len(levels))
  pop_step = jax.jit(jax.vmap(member_train_step(model), in_axes=(0, None, 0, 0)))
  single = [jax.jit(steps.train_step) for _ in levels]
  singles = [model.clone(noise=noise.rates(lv)[0], dropout=noise.rates(lv)[1]) for lv in levels]
  states = [m.replace(apply_fn=s.apply) for m, s in zip(members, singles)]
  alone = [timing.Steps(s, batch_list, key) for s in states]
  seq = timing.compile_then_time(lambda: [timing.warm(f, (s, batch_list[0], key)) for f, s in zip(single, states)],
                                 lambda fns, i: [m.run(f, i) for f, m in zip(fns, alone)], n_steps)
  _emit(model=f"A({filters} filters) x {len(levels)} levels", mode="train-sequential", batch=64,
        seq_per_s=64 * len(levels) / seq.median, step_s_median=seq.median)
  pop = timing.compile_then_time(lambda: timing.warm(pop_step, (stacked, batch_list[0], keys, level_array)),
                                 timing.Steps(stacked, batch_list, keys, level_array).run, n_steps)
  _emit(model=f"A({filters} filters) x {len(levels)} levels", mode="train-population-vmap", batch=64,
        seq_per_s=64 * len(levels) / pop.median, step_s_median=pop.median)
  print(f"population (vmap) speed-up over sequential training of {len(levels)} levels: "
        f"{seq.median / pop.median:.2f}x", flush=True)


def bench_sweep_wall(data, levels, filters):
  """Wall time of one epoch of the regularisation sweep as `fit_population` runs it on this backend, against
  the sum of the members trained alone with `fit` (each its own compilation, as a user would run them)."""
  from rcl.train.fit_config import FitConfig  # noqa: PLC0415
  from rcl.train.loop import fit  # noqa: PLC0415
  from rcl.train.population import fit_population, one_by_one  # noqa: PLC0415
  model = monikers.build(monikers.MONIKERS["A"], len(data.classes), _hyper(cnn_filters=filters))
  config = FitConfig(epochs=1, batch_size=64, seed=0, selection="last")
  train, val = data.splits["train"], data.splits["val"]
  t0 = time.perf_counter()
  fit_population(model, levels, train, val, config)
  population_s = time.perf_counter() - t0
  alone_s = 0.0
  for level in levels:
    sigma, rate = noise.rates(level)
    t0 = time.perf_counter()
    fit(model.clone(noise=sigma, dropout=rate), train, val, config)
    alone_s += time.perf_counter() - t0
  _emit(model=f"A({filters} filters) x {len(levels)} levels", mode="sweep-epoch-wall",
        population="one by one" if one_by_one() else "vmapped", population_s=population_s, members_alone_s=alone_s)
  print(f"sweep epoch of {len(levels)} levels: {population_s:.1f} s as a population, {alone_s:.1f} s as members "
        f"trained alone ({population_s / alone_s:.2f}x)", flush=True)


def main(argv):
  del argv
  allocator.restart_with_huge_pages()
  sharding.request_cpu_devices(_CPU_DEVICES.value)
  files = location.resolve(location.TEST13_FILES, _DATA_DIR.value, progress=print)
  data = load_dataset(files, seed=0)
  print(f"# devices: {jax.devices()}; Test13 train split: {len(data.splits['train'])} sequences", flush=True)
  if "A" in _MODELS.value:
    bench_cnn(data, _STEPS.value)
  if "E" in _MODELS.value:
    bench_rnn(data, _PADDED_STEPS.value, _RNN_HIDDEN.value)
    bench_rnn_inference(data, _RNN_HIDDEN.value, _PADDED_STEPS.value)
  if "C" in _MODELS.value:
    bench_collaborative_inference(data)
  if "P" in _MODELS.value:
    bench_population(data, [float(v) for v in _POPULATION.value], _POP_FILTERS.value, max(_STEPS.value // 2, 3))
    bench_sweep_wall(data, [float(v) for v in _POPULATION.value], _POP_FILTERS.value)


if __name__ == "__main__":
  app.run(main)
