"""Benchmark of `rcl classify` at scale: records/s end to end (parse to TSV written) and peak RSS.

  python -m experiments.classify_bench [--records=10000,100000] [--models=shipped,BUNDLE_DIR]

Builds a gzip FASTA of N records from the nRC files: records drawn at random, each with 5% of its letters
substituted (seeded), so that every sequence is new to the model and none repeats, at nRC's length
distribution. Each model then classifies each file in a fresh `rcl classify` process, twice: first with an
empty compilation cache ("cold": every shape compiled), then with the cache that run filled ("warm"). The
peak RSS is the process's own (`os.wait4`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from experiments.bench_input import make_input
from rcl.cli.model_lookup import shipped
from rcl.data import location
from rcl.data.fasta import read_fasta

_RECORDS = flags.DEFINE_list("records", ["10000", "100000"], "Input sizes (records).")
_MODELS = flags.DEFINE_list("models", ["shipped"], "Bundles to run: 'shipped' or bundle directories.")
_SOURCES = flags.DEFINE_list("sources", ["nrc/dataset_Rfam_6320_13classes.fasta",
                                         "nrc/dataset_Rfam_validated_2600_13classes.fasta"],
                             "FASTA files under --data_dir the records are drawn from.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data directory (default: rcl/data/location.py's rule).")
_MUTATION = flags.DEFINE_float("mutation", 0.05, "Share of letters substituted in each drawn record.")
_WORKERS = flags.DEFINE_integer("workers", 4, "rcl classify --workers.")


def run(model: str | None, fasta: str, cache: str, workers: int) -> tuple[float, float, int]:
  """One `rcl classify` process: (seconds, peak RSS in GB, rows written)."""
  out = fasta + ".tsv"
  cmd = [sys.executable, "-m", "rcl.cli", "classify", f"--input={fasta}", f"--output={out}", f"--workers={workers}"]
  if model:
    cmd.append(f"--model={model}")
  start = time.perf_counter()
  proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache))
  _, status, usage = os.wait4(proc.pid, 0)
  seconds = time.perf_counter() - start
  err = proc.stderr.read().decode()
  if status != 0:
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
  with open(out) as f:
    rows = sum(1 for _ in f) - 1
  return seconds, usage.ru_maxrss / 2 ** 20, rows


def main(argv):
  del argv
  files = location.resolve(_SOURCES.value, _DATA_DIR.value, progress=print)
  sequences = [r.sequence for path in files for r in read_fasta(path)]
  print(f"{'model':<28} {'records':>8} {'run':>5} {'seconds':>8} {'records/s':>10} {'peak RSS GB':>12}")
  with tempfile.TemporaryDirectory() as tmp:
    for model in _MODELS.value:
      directory = shipped()[0] if model == "shipped" else model
      cache = tempfile.mkdtemp(dir=tmp)
      for n in (int(v) for v in _RECORDS.value):
        fasta = os.path.join(tmp, f"in_{n}.fa.gz")
        if not os.path.exists(fasta):
          make_input(fasta, n, sequences, _MUTATION.value)
        for label in ("cold", "warm"):
          if label == "cold":
            cache = tempfile.mkdtemp(dir=tmp)
          seconds, rss, rows = run(directory, fasta, cache, _WORKERS.value)
          assert rows == n, (rows, n)
          name = f"{os.path.basename(directory)} ({model if model == 'shipped' else 'given'})"
          print(f"{name:<28} {n:>8} {label:>5} {seconds:>8.1f} {n / seconds:>10.0f} {rss:>12.2f}", flush=True)


if __name__ == "__main__":
  app.run(main)
