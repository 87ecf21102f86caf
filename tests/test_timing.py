"""The benchmarks' compile-then-time helper makes the calls it says, in order, and times the right ones."""

import jax
import jax.numpy as jnp

from experiments import timing


def test_compile_then_time_calls_in_order():
  calls = []

  def call(compiled, i):
    calls.append((compiled, i))
    return jnp.ones(2) * i

  t = timing.compile_then_time(lambda: calls.append("compile") or "fn", call, 3, warmup=2)
  assert calls == ["compile", ("fn", 0), ("fn", 1), ("fn", 2), ("fn", 3), ("fn", 4)]
  assert len(t.times) == 3 and t.compile_s >= 0 and t.median in t.times and t.total == sum(t.times)
  together = timing.compile_then_time(lambda: "fn", call, 4, each=False)
  assert len(together.times) == 1 and calls[-1] == ("fn", 3)


def test_aot_warm_and_second_call():
  jitted = jax.jit(lambda x: x + 1)
  assert float(timing.aot(jitted, jnp.float32(1))(jnp.float32(2))) == 3
  assert timing.warm(jitted, (jnp.ones(2),), (jnp.ones(3),)) is jitted
  count = []
  assert timing.second_call_s(lambda: count.append(1)) >= 0 and len(count) == 2


def test_steps_threads_state_over_batches():
  loop = timing.Steps(jnp.float32(0), [jnp.float32(1), jnp.float32(10)], jnp.float32(100))
  step = jax.jit(lambda state, batch, extra: (state + batch, {"loss": state + extra}))
  for i in range(3):
    loop.run(step, i)
  assert float(loop.state) == 12 and float(loop.sums["loss"]) == 111
