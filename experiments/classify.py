"""Classify new sequences: `python -m experiments.classify --workdir=runs/test13_small --model=A --input=x.fasta`.

Writes a TSV (id, length, predicted class, probability, top classes) to --output or standard output.
"""

import logging as std_logging
import os
import sys

from absl import app, flags, logging

from rcl.classify import classify
from rcl.data.fasta import FastaError

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished experiment directory.", required=True)
_MODEL = flags.DEFINE_string("model", "A", "The trained component to use (A-G).")
_INPUT = flags.DEFINE_string("input", None, "FASTA file to classify (plain or gzip).", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "TSV output path (default: standard output).")
_TOP = flags.DEFINE_integer("top_k", 3, "Ranked classes listed per sequence.")
_CACHE = flags.DEFINE_string("structure_cache",
                             os.environ.get("RCL_CACHE_DIR", os.path.expanduser("~/.cache/rcl/structures")),
                              "ViennaRNA structure cache (sec and seq+sec models).")


def main(argv):
  del argv
  logging.set_verbosity(logging.ERROR)
  std_logging.getLogger("rcl").setLevel(std_logging.WARNING)
  try:
    rows = classify(_WORKDIR.value, _MODEL.value, _INPUT.value, structure_cache=_CACHE.value, top_k=_TOP.value)
  except (FastaError, ValueError, OSError) as e:
    sys.exit(f"error: {e}")
  out = open(_OUTPUT.value, "w") if _OUTPUT.value else sys.stdout
  out.write("id\tlength\tpredicted\tprobability\ttop\n")
  for r in rows:
    top = ",".join(f"{c}:{p:.3f}" for c, p in r["top"])
    out.write(f"{r['id']}\t{r['length']}\t{r['predicted']}\t{r['probability']:.4f}\t{top}\n")
  if _OUTPUT.value:
    out.close()
    print(f"classified {len(rows)} sequences -> {_OUTPUT.value}", file=sys.stderr)


if __name__ == "__main__":
  app.run(main)
