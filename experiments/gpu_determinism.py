"""GPU determinism, measured: `python -m experiments.gpu_determinism [--data_dir=DIR]` on a machine with a GPU.

For XLA's default GPU settings and for `--xla_gpu_deterministic_ops=true`, it runs the golden fit
(experiments/golden.py: A and E, small, noise and dropout on) twice on the GPU, each in a fresh process, and
says whether the two runs agree bit for bit (parameter and probability digests); then it measures training
throughput under both settings with `experiments.bench` (A and E training steps), so that the cost of
determinism is a ratio from one machine. Prints one JSON object.
"""

import json
import os
import subprocess
import sys

from absl import app, flags

_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data directory (default: rcl's, as experiments.run).")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per bench measurement.")

SETTINGS = {"default": "", "deterministic": "--xla_gpu_deterministic_ops=true"}


def _run(module: str, args: list[str], xla_flags: str) -> list[dict]:
  env = dict(os.environ, XLA_FLAGS=" ".join(f for f in (os.environ.get("XLA_FLAGS", ""), xla_flags) if f))
  proc = subprocess.run([sys.executable, "-m", module, *args], env=env, capture_output=True, text=True, timeout=3600)
  if proc.returncode != 0:
    raise SystemExit(f"{module} failed under XLA_FLAGS={env['XLA_FLAGS']!r}:\n{proc.stderr[-3000:]}")
  return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def main(argv):
  del argv
  data = [f"--data_dir={_DATA_DIR.value}"] if _DATA_DIR.value else []
  out = {}
  for name, xla_flags in SETTINGS.items():
    runs = [_run("experiments.golden", ["--platform=gpu", *data], xla_flags)[-1] for _ in range(2)]
    bench = _run("experiments.bench", ["--models=A,E", f"--steps={_STEPS.value}", *data], xla_flags)
    out[name] = {"xla_flags": xla_flags, "bit_identical": runs[0]["digests"] == runs[1]["digests"],
                 "digests": [r["digests"] for r in runs], "device": runs[0]["device"],
                 "train_seq_per_s": {f"{b['model']} {b.get('padding', '')}".strip(): b["seq_per_s"]
                                     for b in bench if b.get("mode") == "train" and b.get("devices") == "1 device"}}
  base, det = (out[n]["train_seq_per_s"] for n in SETTINGS)
  out["deterministic_speed_ratio"] = {k: det[k] / base[k] for k in base if k in det}
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  app.run(main)
