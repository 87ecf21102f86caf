"""What fills `rcl classify`'s memory: resident set size after each phase of one in-process run.

  python -m experiments.classify_memory [--model=test13_small] [--records=20000] [--workers=4] [--chunk=4096]

Prints VmRSS after importing JAX, after loading the bundle, and after each chunk (the first chunks compile
a program per input shape: CNN window, RNN length bucket; later ones reuse them), with the peak (VmHWM)
and the number of compiled shapes so far. Records are drawn as in `experiments.classify_bench` (nRC records
with 5% of letters substituted). Run it with --workers=1 and with the default to see what the concurrent
chunks add. (Without the huge-page restart of the `rcl` command: it measures the allocations, not their
page size.)
"""

from __future__ import annotations

import io
import os
import tempfile

from absl import app, flags

from experiments.bench_input import make_input
from rcl.data import location
from rcl.data.fasta import read_fasta

_MODEL = flags.DEFINE_string("model", "test13_small", "Bundle directory or shipped name.")
_RECORDS = flags.DEFINE_integer("records", 20000, "Records classified.")
_WORKERS = flags.DEFINE_integer("workers", 4, "Chunks predicted at once.")
_CHUNK = flags.DEFINE_integer("chunk", 4096, "Records per chunk.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data directory (default: rcl/data/location.py's rule).")


def _status() -> tuple[float, float]:
  """(VmRSS, VmHWM) of this process in GB."""
  values = {}
  with open("/proc/self/status") as f:
    for line in f:
      key, _, rest = line.partition(":")
      if key in ("VmRSS", "VmHWM"):
        values[key] = int(rest.split()[0]) / 2 ** 20
  return values["VmRSS"], values["VmHWM"]


def _line(phase: str) -> None:
  rss, peak = _status()
  print(f"{phase:<44} RSS {rss:5.2f} GB  peak {peak:5.2f} GB", flush=True)


def main(argv):
  del argv
  _line("python + absl")
  import jax  # noqa: PLC0415
  jax.numpy.zeros(1).block_until_ready()
  _line("JAX imported, CPU client up")
  from rcl import bundle, classify  # noqa: PLC0415
  from rcl.cli.model_lookup import resolve_model  # noqa: PLC0415
  from rcl.data.fasta import iter_records  # noqa: PLC0415
  model = bundle.load(resolve_model(_MODEL.value))
  _line(f"bundle {model.meta['model']} loaded")
  files = location.resolve(["nrc/dataset_Rfam_6320_13classes.fasta",
                            "nrc/dataset_Rfam_validated_2600_13classes.fasta"], _DATA_DIR.value, progress=print)
  sequences = [r.sequence for path in files for r in read_fasta(path)]
  with tempfile.TemporaryDirectory() as tmp:
    fasta = os.path.join(tmp, "in.fa.gz")
    make_input(fasta, _RECORDS.value, sequences, 0.05)
    _line("input written")

    def progress(done: int, seconds: float) -> None:
      compiled = sum(f._cache_size() for f in _jitted())  # noqa: SLF001 - jax.jit's cache size
      _line(f"{done:>7} records, {done / seconds:6.0f} rec/s, {compiled} programs")

    classify.classify(model, iter_records(fasta, require_label=False), io.StringIO(), chunk_size=_CHUNK.value,
                      workers=_WORKERS.value, progress=progress)


def _jitted():
  """The jitted functions classification runs (their caches hold one program per input shape)."""
  from rcl.train import predict  # noqa: PLC0415
  return [predict._predict]  # noqa: SLF001


if __name__ == "__main__":
  app.run(main)
