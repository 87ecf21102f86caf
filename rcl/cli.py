"""The `rcl` command, for classifying sequences with trained models:

  rcl classify --input=seqs.fasta[.gz]|- [--model=BUNDLE] [--output=FILE] [--format=tsv|jsonl]
  rcl evaluate --input=labelled.fasta[.gz] [--model=BUNDLE] [--out=DIR]
  rcl export --workdir=runs/x --model='LD(A)+LD(E)' --out=BUNDLE
  rcl models [BUNDLE ...]
  rcl data fetch [nrc|rfam-novel|all] [--dest DIR]

Without --model, classify and evaluate use the pretrained bundle shipped in the package
(rcl/pretrained/), when there is one.

(`python -m experiments.run` is the research entry point.) Bad input ends with one `error: ...` line and
exit status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable

from rcl import allocator


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="rcl", description="Classify ncRNA sequences into Rfam classes.")
  sub = parser.add_subparsers(dest="command", required=True)
  c = sub.add_parser("classify", help="predict the class of every record of a FASTA file")
  c.add_argument("--output", default="-", help="output file (default: standard output)")
  c.add_argument("--format", default="tsv", choices=("tsv", "jsonl"))
  c.add_argument("--top_k", type=int, default=3, help="ranked classes per record")
  v = sub.add_parser("evaluate", help="score a model on a labelled FASTA file ('>ID CLASS' or '>RFxxxxx')")
  v.add_argument("--out", default=None, help="directory for metrics.json, per_class.tsv, confusion.tsv/.png "
                                             "and predictions.tsv")
  for p in (c, v):
    p.add_argument("--input", required=True, help="FASTA file (plain or gzip), or - for standard input")
    p.add_argument("--model", default=None, help="a model bundle directory (rcl export); default: the shipped one")
    p.add_argument("--chunk", type=int, default=4096, help="records read, predicted and written at a time")
    p.add_argument("--workers", type=int, default=4, help="chunks predicted at once, one thread each")
    p.add_argument("--structure_cache", default=None,
                   help="ViennaRNA structure cache for models reading secondary structure (default: "
                        "$RCL_CACHE_DIR, else ~/.cache/rcl/structures)")
  e = sub.add_parser("export", help="write a self-contained bundle of a model trained by experiments.run")
  e.add_argument("--workdir", required=True)
  e.add_argument("--model", required=True, help="a moniker (A-G) or a collaborative spec such as 'LD(A)+LD(E)'")
  e.add_argument("--out", required=True, help="the new bundle directory")
  m = sub.add_parser("models", help="describe bundles: model, classes, provenance")
  m.add_argument("bundles", nargs="*", help="bundle directories (default: the shipped ones)")
  d = sub.add_parser("data", help="the public data sets (nRC, Rfam-novel)")
  f = d.add_subparsers(dest="action", required=True).add_parser(
      "fetch", help="download the data sets by pinned URL, verified by sha256 (never twice)")
  f.add_argument("datasets", nargs="*", default=["all"], choices=("nrc", "rfam-novel", "all"),
                 help="which data sets (default: all)")
  f.add_argument("--dest", default=None, help="data directory (default: $RCL_DATA_DIR, else ~/.cache/rcl/data)")
  return parser


def shipped() -> list[str]:
  """The bundle directories shipped inside the package (rcl/pretrained/<name>/)."""
  root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
  if not os.path.isdir(root):
    return []
  return sorted(os.path.join(root, n) for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "bundle.json")))


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(round(seconds), 60)
  return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _progress(position) -> Callable[[int, float], None]:
  """The progress line printed after each chunk: records, records/s and, when the input's size is known,
  an ETA (the total estimated from the records per byte read so far)."""
  def show(done: int, seconds: float) -> None:
    line = f"classified {done} records, {done / max(seconds, 1e-9):.0f} records/s"
    fraction = position.fraction()
    if fraction:
      total = position.records / fraction  # estimated from the bytes read so far; exact once all is read
      line += f", ETA {_duration(max(0.0, total - done) * seconds / max(done, 1))}"
    print(line, file=sys.stderr, flush=True)
  return show


def _use_compilation_cache() -> None:
  """Compiled models are kept in ~/.cache/rcl/xla (JAX's own JAX_COMPILATION_CACHE_DIR wins), so a later run
  with the same model and shapes starts at once. Before JAX is imported."""
  os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.expanduser("~/.cache/rcl/xla"))
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")


def _prepare(args, top_k: int = 1):
  """Checks the common options and loads the model: (bundle, structure cache, ReadPosition)."""
  from rcl import bundle  # noqa: PLC0415 - JAX loads only for commands that need it
  from rcl.config import default_structure_cache  # noqa: PLC0415
  from rcl.data.fasta import ReadPosition  # noqa: PLC0415
  if top_k < 1 or args.chunk < 1 or args.workers < 1:
    raise ValueError("--top_k, --chunk and --workers must be positive")
  if args.model is None:
    if not shipped():
      raise ValueError("no --model given and no pretrained bundle is shipped in this installation")
    args.model = shipped()[0]
  model = bundle.load(args.model)
  if args.input != "-" and not os.path.isfile(args.input):
    raise FileNotFoundError(f"--input={args.input}: no such file")
  return model, args.structure_cache or default_structure_cache(), ReadPosition()


def _classify(args) -> None:
  from rcl import classify  # noqa: PLC0415
  from rcl.data.fasta import iter_records  # noqa: PLC0415
  model, structure_cache, position = _prepare(args, args.top_k)
  out = sys.stdout if args.output == "-" else open(args.output, "w")
  try:
    n = classify.classify(model, iter_records(args.input, require_label=False, position=position), out,
                          fmt=args.format, chunk_size=args.chunk, top_k=min(args.top_k, len(model.classes)),
                          structure_cache=structure_cache, workers=args.workers, progress=_progress(position))
  finally:
    if out is not sys.stdout:
      out.close()
  print(f"wrote {n} predictions ({model.meta['model']}) to {args.output}", file=sys.stderr)


def _evaluate(args) -> None:
  from rcl import evaluate  # noqa: PLC0415
  from rcl.data.fasta import iter_records  # noqa: PLC0415
  model, structure_cache, position = _prepare(args)
  records = iter_records(args.input, require_label=True, position=position)
  predictions = None
  if args.out is not None:
    os.makedirs(args.out, exist_ok=True)
    predictions = open(os.path.join(args.out, "predictions.tsv"), "w")
  try:
    result = evaluate.evaluate(model, records, chunk_size=args.chunk, workers=args.workers,
                               structure_cache=structure_cache, predictions=predictions,
                               progress=_progress(position))
  finally:
    if predictions is not None:
      predictions.close()
  print(evaluate.summary(result), end="")
  if args.out is not None:
    paths = evaluate.write(result, args.out)
    print(f"wrote {', '.join(os.path.basename(p) for p in paths)} and predictions.tsv to {args.out}")


def _export(args) -> None:
  from rcl import bundle  # noqa: PLC0415
  meta = bundle.export(args.workdir, args.model, args.out)
  print(f"exported {meta['model']} ({len(meta['classes'])} classes, test accuracy "
        f"{meta['provenance']['test_accuracy']:.4f}) to {args.out}")


def _models(args) -> None:
  from rcl import bundle  # noqa: PLC0415
  for directory in args.bundles or shipped():
    meta = bundle.load(directory).meta
    print(json.dumps({"bundle": directory, "model": meta["model"], "classes": meta["classes"],
                      "max_len": meta["max_len"], "provenance": meta["provenance"]}, indent=1))


def _data(args) -> None:
  from rcl.data import fetch, location  # noqa: PLC0415
  dest = args.dest or location.fetch_destination()
  paths = fetch.fetch(args.datasets, dest, progress=lambda line: print(line, file=sys.stderr, flush=True))
  print(f"{len(paths)} files verified in {dest}")


def main(argv: list[str] | None = None) -> None:
  args = _parser().parse_args(argv)
  _use_compilation_cache()
  logging.getLogger("absl").setLevel(logging.ERROR)
  try:
    commands = {"classify": _classify, "evaluate": _evaluate, "export": _export, "models": _models, "data": _data}
    commands[args.command](args)
  except (ValueError, OSError) as e:
    sys.exit(f"error: {e}")


def console() -> None:
  """The installed `rcl` command (and `python -m rcl.cli`): main() on the command line's arguments, in a
  process whose malloc maps XLA's large buffers with huge pages when it classifies (`rcl.allocator`)."""
  argv = sys.argv[1:]
  if argv[:1] in (["classify"], ["evaluate"]):
    allocator.restart_with_huge_pages()
  main(argv)


if __name__ == "__main__":
  console()
