"""The `rcl` command, for classifying sequences with trained models:

  rcl classify --input=seqs.fasta[.gz]|- [--model=BUNDLE] [--output=FILE] [--format=tsv|jsonl]
  rcl evaluate --input=labelled.fasta[.gz] [--model=BUNDLE] [--out=DIR [--force]]
               [--boundary_noise=0,100,200 [--noise_kind=dinucleotide|uniform] [--noise_seed=0]]
               [--novel=outside_the_classes.fasta]
  rcl export --workdir=runs/x --model='LD(A)+LD(E)' --out=BUNDLE [--class_names=rfam.json]
  rcl models [BUNDLE ...]
  rcl data fetch [nrc|rfam-novel|all] [--dest DIR]

A BUNDLE is a bundle directory or the name of one shipped in the package (rcl/pretrained/<name>/; a
directory of that name wins). Without --model, classify and evaluate use the shipped `test13_small`.

(`python -m experiments.run` is the research entry point.) Bad input ends with one `error: ...` line and
exit status 1; output paths are checked before the model loads, and an output that received no record is
removed. Duplicate record IDs in the input are named in a `warning: ...` line at the end.
"""

from __future__ import annotations

import logging
import os
import sys

from rcl import allocator
from rcl.cli import bundle_commands, classify_command, data_command, evaluate_command, parser

COMMANDS = {"classify": classify_command.run, "evaluate": evaluate_command.run, "export": bundle_commands.export,
            "models": bundle_commands.models, "data": data_command.run}


def _use_compilation_cache() -> None:
  """Compiled models are kept in ~/.cache/rcl/xla (JAX's own JAX_COMPILATION_CACHE_DIR wins), so a later run
  with the same model and shapes starts at once. Before JAX is imported."""
  os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/rcl/xla"))
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")


def main(argv: list[str] | None = None) -> None:
  """Runs the subcommand of `argv` (default: the command line's); bad input exits with one `error: ...` line."""
  args = parser.build().parse_args(argv)
  _use_compilation_cache()
  logging.getLogger("absl").setLevel(logging.ERROR)
  try:
    COMMANDS[args.command](args)
  except (ValueError, OSError) as e:
    sys.exit(f"error: {e}")


def console() -> None:
  """The installed `rcl` command (and `python -m rcl.cli`): main() on the command line's arguments, in a
  process whose malloc maps XLA's large buffers with huge pages when it classifies (`rcl.allocator`)."""
  argv = sys.argv[1:]
  if argv[:1] in (["classify"], ["evaluate"]):
    allocator.restart_with_huge_pages()
  main(argv)
