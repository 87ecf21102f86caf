"""Compile, then time: how the benchmarks in experiments/ measure a computation, written once."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jax

F = TypeVar("F")


@dataclasses.dataclass(frozen=True)
class Timing:
  """What `compile_then_time` measured.

  Attributes:
    compile_s: seconds of the compilation step.
    times: seconds of each timed call (or, timed together, one entry: all of them).
  """
  compile_s: float
  times: list[float]

  @property
  def median(self) -> float:
    return statistics.median(self.times)

  @property
  def total(self) -> float:
    return sum(self.times)


def compile_then_time(compile_fn: Callable[[], F], call: Callable[[F, int], Any], n: int, warmup: int = 0,
                      each: bool = True) -> Timing:
  """Times `compile_fn()`, then makes `warmup` untimed and `n` timed calls `call(compiled, i)`, blocking on results.

  Args:
    compile_fn: compiles what is measured and returns what `call` runs it with: `aot(jitted, ...)` (compilation
      alone is timed) or `warm(jitted, ...)` (a call per input shape: compilation and those calls are timed).
    call: one measured call; `i` counts every call after compilation from 0 (the warm-up ones first).
      Returns what to block on.
    n: timed calls.
    warmup: untimed calls between compilation and timing.
    each: time each call, blocking on its result; False: time the `n` calls together, blocking on the last
      result only (a pass over batches as a loop would run it).
  """
  t0 = time.perf_counter()
  compiled = jax.block_until_ready(compile_fn())
  compile_s = time.perf_counter() - t0
  for i in range(warmup):
    jax.block_until_ready(call(compiled, i))
  times = []
  if each:
    for i in range(warmup, warmup + n):
      t0 = time.perf_counter()
      jax.block_until_ready(call(compiled, i))
      times.append(time.perf_counter() - t0)
  else:
    t0 = time.perf_counter()
    for i in range(warmup, warmup + n):
      out = call(compiled, i)
    jax.block_until_ready(out)
    times.append(time.perf_counter() - t0)
  return Timing(compile_s, times)


def aot(jitted: Any, *args: Any) -> Any:
  """`jitted` compiled ahead of time for `args` (`jax.stages.Compiled`: compiled alone, nothing run)."""
  return jitted.lower(*args).compile()


def warm(fn: F, *calls: Sequence[Any]) -> F:
  """Calls the jitted `fn` with each argument tuple in `calls` (compiling one program per input shape), blocking
  on every result; returns `fn`."""
  for args in calls:
    jax.block_until_ready(fn(*args))
  return fn


def second_call_s(fn: Callable[[], Any]) -> float:
  """Seconds of `fn()`'s second call, the first having compiled every shape it needs."""
  return compile_then_time(fn, lambda _, i: fn(), 1).times[0]


class Steps:
  """A train step run over `batches`, threading its state: the i-th call steps on `batches[i % len(batches)]`.

  Attributes:
    state: the state after the last step.
    sums: the last step's metric sums.
  """

  def __init__(self, state: Any, batches: Sequence[Any], *args: Any):
    """`args` follow the batch in every call: `step(state, batch, *args) -> (state, sums)`."""
    self.state, self.batches, self.args, self.sums = state, batches, args, None

  def run(self, step: Callable[..., tuple[Any, Any]], i: int) -> Any:
    """One step on batch `i` (modulo their number); returns its metric sums."""
    self.state, self.sums = step(self.state, self.batches[i % len(self.batches)], *self.args)
    return self.sums
