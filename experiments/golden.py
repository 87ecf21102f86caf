"""The golden fit: a tiny real-data fit whose parameter digests and metrics tests/golden.json records, so that
any machine running the suite checks that it trains the same model bit for bit (tests/test_golden.py).

  python -m experiments.golden [--data_dir=DIR]            # prints this machine's digests as JSON
  python -m experiments.golden --record                    # writes them to tests/golden.json

It runs in the portable CPU mode (`rcl.portable_cpu`) and trains A (CNN) and E (RNN), small, with noise and
dropout on, on the first 20 records of each class (up to 300 nt) of the nRC 6,320-record file, split
80:10:10 with seed 0.
"""

import json
import os
import tempfile

from absl import app, flags, logging

from rcl import portable_cpu

_DATA_DIR = flags.DEFINE_string("data_dir", None, "Data directory (default: rcl's, as experiments.run).")
_PLATFORM = flags.DEFINE_string("platform", "cpu", "JAX platform to fit on (cpu: the recorded digests; gpu: "
                                "experiments/gpu_determinism.py).")
_RECORD = flags.DEFINE_bool("record", False, "Write the digests to tests/golden.json (the machine's CPU beside them).")

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "golden.json")
SOURCE = "nrc/dataset_Rfam_6320_13classes.fasta"


def _subset(path: str, directory: str) -> str:
  from rcl.data.fasta import read_fasta  # noqa: PLC0415
  taken, lines = {}, []
  for r in read_fasta(path):
    if taken.get(r.label, 0) < 20 and len(r.sequence) <= 300:
      taken[r.label] = taken.get(r.label, 0) + 1
      lines.append(f">{r.id} {r.label}\n{r.sequence}\n")
  out = os.path.join(directory, "golden.fasta")
  with open(out, "w", encoding="utf-8") as f:
    f.write("".join(lines))
  return out


def golden_fit(data_dir: str) -> dict:
  """Trains the golden models; returns {model: {'parameters': digest, 'probabilities': digest, 'val_loss': [...]}}."""
  from rcl.data import location  # noqa: PLC0415
  from rcl.data.dataset import load_dataset  # noqa: PLC0415
  from rcl.models.monikers import MONIKERS, Hyper, build  # noqa: PLC0415
  from rcl.train import digest  # noqa: PLC0415
  from rcl.train.fit_config import FitConfig  # noqa: PLC0415
  from rcl.train.loop import fit  # noqa: PLC0415
  from rcl.train.predict import predict  # noqa: PLC0415
  with tempfile.TemporaryDirectory() as tmp:
    data = load_dataset([_subset(os.path.join(location.data_dir(data_dir).path, SOURCE), tmp)], seed=0, max_len=200)
  runs = {"A": (Hyper(cnn_filters=8, cnn_dense=(16, 8), reg_level=0.5), FitConfig(epochs=3, batch_size=16)),
          "E": (Hyper(rnn_hidden=8, rnn_attention=8, rnn_dense=(16, 8, 8), reg_level=0.5),
                FitConfig(epochs=2, batch_size=16, bucket_lengths=(100, 200)))}
  out = {}
  for name, (hyper, config) in runs.items():
    result = fit(build(MONIKERS[name], len(data.classes), hyper), data.splits["train"], data.splits["val"], config)
    probs = predict(result.state, data.splits["test"], 64, bucket_lengths=config.bucket_lengths)["probs"]
    out[name] = {"parameters": digest.tree_digest(result.state.params), "probabilities": digest.tree_digest(probs),
                 "val_loss": result.history["val_loss"]}
  return out


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)
  os.environ["JAX_PLATFORMS"] = _PLATFORM.value  # default cpu: the CPU's numbers, also beside an accelerator
  portable_cpu.request()  # before JAX starts its backend
  from rcl.report import provenance  # noqa: PLC0415
  env = provenance.environment()
  out = {"digests": golden_fit(_DATA_DIR.value), "cpu": env["cpu"], "cpus_used": env["cpus_used"],
         "xla_pool_threads": env["xla_pool_threads"], "device": env["devices"][0], "portable_cpu": env["portable_cpu"],
         "packages": {k: env["packages"][k] for k in ("jax", "jaxlib")}}
  if _RECORD.value:
    with open(GOLDEN, "w", encoding="utf-8") as f:
      json.dump(out, f, indent=1)
      f.write("\n")
  print(json.dumps(out))


if __name__ == "__main__":
  app.run(main)
