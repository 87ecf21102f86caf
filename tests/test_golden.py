"""The golden fit (experiments/golden.py) trains, on this machine, the model tests/golden.json records, bit for
bit: the portable CPU mode (rcl/portable_cpu.py) makes a run's numbers independent of the x86-64 CPU."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(REPO, "tests", "golden.json")  # experiments/golden.py's; not imported: its flags


def test_the_golden_fit_gives_the_recorded_digests(real_data):
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "ONEDNN_MAX_CPU_ISA", "NPROC")}
  proc = subprocess.run([sys.executable, "-m", "experiments.golden", f"--data_dir={real_data}"], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  here = json.loads(proc.stdout.strip().splitlines()[-1])
  with open(GOLDEN, encoding="utf-8") as f:
    recorded = json.load(f)
  assert here["portable_cpu"] and "cpu" in here["device"].lower(), here
  if here["digests"] != recorded["digests"]:
    lines = [f"{model} {what}: recorded {recorded['digests'][model][what]}, this machine {here['digests'][model][what]}"
             for model in recorded["digests"] for what in ("parameters", "probabilities")
             if recorded["digests"][model][what] != here["digests"].get(model, {}).get(what)]
    raise AssertionError(
        "the golden fit trained another model on this machine:\n  " + "\n  ".join(lines) +
        f"\nrecorded on {recorded['cpu']}, {recorded['cpus_used']} CPUs, a pool of {recorded['xla_pool_threads']} "
        f"threads, jax {recorded['packages']}; this machine: {here['cpu']}, {here['cpus_used']} CPUs, a pool of "
        f"{here['xla_pool_threads']} threads, jax {here['packages']}. Fewer CPUs than the mode's, or another pool "
        "size (NPROC), change the sums; a new jax/jaxlib may change XLA's code (re-record with `python -m experiments.golden "
        "--record` and say so in BUILD.md); the same jax on another CPU means the portable CPU mode leaks "
        "(BUILD.md, 'Reproducible on any x86-64 CPU').")


def test_the_portable_mode_is_the_default_only_where_it_costs_little(monkeypatch):
  """experiments.run takes the mode unless told where it was measured nearly free (2 CPUs, data parallel over 2
  or more host devices) and leaves it off where it would cost over 10%: one host device, or a machine whose
  other CPUs the mode would take away."""
  from rcl import portable_cpu  # noqa: PLC0415
  monkeypatch.setattr(portable_cpu, "applies", lambda: True)
  monkeypatch.setattr(portable_cpu, "accelerator_installed", lambda: False)
  for cpus, devices, expected in [(2, 2, True), (2, 4, True), (2, 0, False), (2, 1, False), (16, 2, False),
                                  (16, 16, False), (1, 2, False)]:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cpus: set(range(n)))
    assert portable_cpu.costs_little(devices) is expected, (cpus, devices)
  monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
  monkeypatch.setattr(portable_cpu, "accelerator_installed", lambda: True)
  assert not portable_cpu.costs_little(2)
