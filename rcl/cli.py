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

import argparse
import contextlib
import importlib.metadata
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator

from rcl import allocator
from rcl.data.flanks import KINDS

DEFAULT_MODEL = "test13_small"  # the shipped bundle classify and evaluate use without --model


EXAMPLES = {  # one command per subcommand, shown by --help
    "classify": "rcl classify --input=seqs.fasta --model=rfam88 --output=calls.tsv",
    "evaluate": "rcl evaluate --input=labelled.fasta --out=scores --boundary_noise=0,100,200",
    "export": "rcl export --workdir=runs/x --model='LD(A)+LD(E)' --out=my_bundle",
    "models": "rcl models test13_small rfam88",
    "data": "rcl data fetch nrc --dest=data",
}


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
  """--help with every option's default (unless it is None or the help text already says it) and the
  epilog's line breaks kept."""

  def _get_help_string(self, action):
    if action.default is None or "default" in (action.help or ""):
      return action.help
    return super()._get_help_string(action)


def _version() -> str:
  try:
    return importlib.metadata.version("rcl")
  except importlib.metadata.PackageNotFoundError:
    return "unknown"


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="rcl", description="Classify ncRNA sequences into Rfam classes.",
                                   formatter_class=_Formatter,
                                   epilog="examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES.values()))
  parser.add_argument("--version", action="version", version=f"rcl {_version()}")
  sub = parser.add_subparsers(dest="command", required=True)

  def add(name: str, text: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=text, description=text, formatter_class=_Formatter,
                          epilog=f"example: {EXAMPLES[name]}")

  c = add("classify", "predict the class of every record of a FASTA file")
  c.add_argument("--output", default="-", help="output file (default: standard output)")
  c.add_argument("--format", default="tsv", choices=("tsv", "jsonl"),
                 help="a header and a tab-separated row per record, or a JSON object per line")
  c.add_argument("--top_k", type=int, default=3, help="ranked classes per record")
  v = add("evaluate", "score a model on a labelled FASTA file ('>ID CLASS' or '>RFxxxxx')")
  v.add_argument("--out", default=None, help="a new or empty directory for metrics.json, per_class.tsv, "
                                             "confusion.tsv/.png and predictions.tsv (and boundary_noise.json/.png)")
  v.add_argument("--force", action="store_true", help="write into an --out directory that is not empty, "
                                                      "overwriting its files")
  v.add_argument("--boundary_noise", default=None, metavar="LEVELS",
                 help="also score every record with random flanks of these percentages of its length "
                      "(comma-separated, e.g. 0,100,200)")
  v.add_argument("--noise_kind", default=None, choices=KINDS,
                 help="flanks made of the record's own dinucleotides (default) or of uniform random nucleotides")
  v.add_argument("--noise_seed", type=int, default=None, help="seed of the flanks (default 0)")
  v.add_argument("--novel", default=None, metavar="FASTA",
                 help="records known to lie outside the model's classes (labels ignored): adds the AUROC of the "
                      "bundle's novelty score against the --input records and its false-acceptance rate")
  for p in (c, v):
    p.add_argument("--input", required=True, help="FASTA file (plain or gzip), or - for standard input")
    p.add_argument("--model", default=None,
                   help=f"a model bundle directory (rcl export) or a shipped bundle's name; default: {DEFAULT_MODEL}")
    p.add_argument("--chunk", type=int, default=4096, help="records read, predicted and written at a time")
    p.add_argument("--workers", type=int, default=4, help="chunks predicted at once, one thread each")
    p.add_argument("--structure_cache", default=None,
                   help="ViennaRNA structure cache for models reading secondary structure (default: "
                        "$RCL_CACHE_DIR, else ~/.cache/rcl/structures)")
  e = add("export", "write a self-contained bundle of a model trained by experiments.run")
  e.add_argument("--workdir", required=True)
  e.add_argument("--model", required=True,
                 help="a moniker (A-G), a collaborative spec such as 'LD(A)+LD(E)', a plain ensemble such as "
                      "'Ensemble(A+E)', or 'best' (the run's best by validation accuracy, averaged over its clean "
                      "and flanked validation copies when it measured boundary noise)")
  e.add_argument("--out", required=True, help="the new bundle directory")
  e.add_argument("--class_names", default=None,
                 help="a JSON object of class -> family name, e.g. Rfam-novel's rfam.json (default: an rfam.json "
                      "beside the experiment's data files, when there is one)")
  m = add("models", "describe bundles: model, classes, provenance")
  m.add_argument("bundles", nargs="*", help="bundle directories or shipped names (default: the shipped ones)")
  d = add("data", "the public data sets (nRC, Rfam-novel)")
  f = d.add_subparsers(dest="action", required=True).add_parser(
      "fetch", help="download the data sets by pinned URL, verified by sha256 (never twice)",
      formatter_class=_Formatter, epilog=f"example: {EXAMPLES['data']}")
  f.add_argument("datasets", nargs="*", default=["all"], choices=("nrc", "rfam-novel", "all"),
                 help="which data sets (default: all)")
  f.add_argument("--dest", default=None, help="data directory (default: $RCL_DATA_DIR, else ~/.cache/rcl/data)")
  return parser


def shipped() -> list[str]:
  """The bundle directories shipped inside the package (rcl/pretrained/<name>/): DEFAULT_MODEL's first, the
  others by name."""
  root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
  if not os.path.isdir(root):
    return []
  names = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "bundle.json")))
  return [os.path.join(root, n) for n in sorted(names, key=lambda n: n != DEFAULT_MODEL)]


def resolve_model(model: str | None) -> str:
  """The bundle directory --model names: an existing path, else a shipped bundle's name; None is
  DEFAULT_MODEL."""
  if model is not None and os.path.exists(model):
    return model
  by_name = {os.path.basename(d): d for d in shipped()}
  if model is None:
    if DEFAULT_MODEL not in by_name:
      raise ValueError(f"no --model given and the default bundle {DEFAULT_MODEL} is not shipped in this installation")
    return by_name[DEFAULT_MODEL]
  if model not in by_name:
    raise ValueError(f"no bundle directory {model!r}, nor a shipped bundle of that name (shipped: "
                     f"{', '.join(by_name) or 'none'})")
  return by_name[model]


def _duration(seconds: float) -> str:
  minutes, seconds = divmod(round(seconds), 60)
  return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _progress(position, prefix: str = "") -> Callable[[int, float], None]:
  """The progress line printed after each chunk: records, records/s and, when the input's size is known,
  an ETA (the total estimated from the records per byte read so far)."""
  def show(done: int, seconds: float) -> None:
    line = f"{prefix}classified {done} records, {done / max(seconds, 1e-9):.0f} records/s"
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


def _check_output(path: str) -> None:
  """Refuses, before any work, an --output file that cannot be written."""
  if os.path.isdir(path):
    raise ValueError(f"--output={path}: is a directory, not a file")
  parent = os.path.dirname(path) or "."
  if not os.path.exists(parent):
    raise ValueError(f"--output={path}: directory {parent} does not exist")
  if not os.path.isdir(parent):
    raise ValueError(f"--output={path}: {parent} is not a directory")
  writable = os.access(path, os.W_OK) if os.path.exists(path) else os.access(parent, os.W_OK | os.X_OK)
  if not writable:
    raise ValueError(f"--output={path}: permission denied")


def _check_out_dir(path: str, force: bool) -> list[str]:
  """Refuses, before any work, an --out that is not a directory, a directory that already holds files (unless
  `force`) or one that cannot be written. Returns the directories the run will create, innermost first."""
  if os.path.exists(path):
    if not os.path.isdir(path):
      raise ValueError(f"--out={path}: is a {'file' if os.path.isfile(path) else 'special file'}, not a directory")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
      raise ValueError(f"--out={path}: permission denied")
    if os.listdir(path) and not force:
      raise ValueError(f"--out={path} exists and is not empty: name a new directory or add --force")
    return []
  made, above = [], os.path.normpath(path)
  while not os.path.exists(above):
    made.append(above)
    above = os.path.dirname(above) or "."
  if not os.path.isdir(above):
    raise ValueError(f"--out={path}: {above} is not a directory")
  if not os.access(above, os.W_OK | os.X_OK):
    raise ValueError(f"--out={path}: permission denied")
  return made


def _holds_no_record(path: str, header_lines: int) -> bool:
  """Whether the output file `path` holds its header lines at most."""
  with open(path) as f:
    return all(i < header_lines for i, _ in enumerate(f))


@contextlib.contextmanager
def _output(path: str, header_lines: int, made: Iterable[str] = ()):
  """`path` opened for writing; when the block fails before a record reached it, the file is removed, and
  then the directories `made` by this run (innermost first) while they are empty."""
  f = open(path, "w")
  try:
    yield f
  except BaseException:
    f.close()
    if _holds_no_record(path, header_lines):
      os.remove(path)
      for directory in made:
        try:
          os.rmdir(directory)
        except OSError:
          break
    raise
  finally:
    f.close()


def _records(path: str, require_label: bool, position) -> Iterator:
  """`iter_records` of --input, where an input without any record is refused in the option's terms."""
  from rcl.data.fasta import FastaError, iter_records  # noqa: PLC0415
  try:
    yield from iter_records(path, require_label=require_label, position=position)
  except FastaError as e:
    if e.line == 0 and e.problem.startswith("no FASTA records"):
      raise ValueError(f"--input={path} holds no FASTA records") from None
    raise


class _Duplicates:
  """The record IDs met more than once in an input, each once, in the order of their second occurrence."""

  def __init__(self, path: str):
    self.path, self.seen, self.ids = path, set(), {}

  def follow(self, records: Iterable) -> Iterator:
    """Yields `records` unchanged, noting their IDs."""
    for record in records:
      if record.id in self.seen:
        self.ids[record.id] = None
      self.seen.add(record.id)
      yield record

  def warn(self) -> None:
    """Prints `warning: N duplicate record IDs in PATH: ...` (the first five) when there are any."""
    if self.ids:
      n, shown = len(self.ids), ", ".join(list(self.ids)[:5])
      more = f", ... ({n - 5} more)" if n > 5 else ""
      print(f"warning: {n} duplicate record ID{'s' * (n > 1)} in {self.path}: {shown}{more}", file=sys.stderr)


def _prepare(args, top_k: int = 1):
  """Checks the common options and loads the model: (bundle, structure cache, ReadPosition)."""
  from rcl import bundle  # noqa: PLC0415 - JAX loads only for commands that need it
  from rcl.config import default_structure_cache  # noqa: PLC0415
  from rcl.data.fasta import ReadPosition  # noqa: PLC0415
  if top_k < 1 or args.chunk < 1 or args.workers < 1:
    raise ValueError("--top_k, --chunk and --workers must be positive")
  args.model = resolve_model(args.model)
  model = bundle.load(args.model)
  if args.input != "-" and not os.path.isfile(args.input):
    raise FileNotFoundError(f"--input={args.input}: no such file")
  return model, args.structure_cache or default_structure_cache(), ReadPosition()


def _classify(args) -> None:
  from rcl import classify  # noqa: PLC0415
  if args.output != "-":
    _check_output(args.output)
  model, structure_cache, position = _prepare(args, args.top_k)
  duplicates = _Duplicates(args.input)
  header_lines = 1 if args.format == "tsv" else 0
  with contextlib.nullcontext(sys.stdout) if args.output == "-" else _output(args.output, header_lines) as out:
    n = classify.classify(model, duplicates.follow(_records(args.input, False, position)), out,
                          fmt=args.format, chunk_size=args.chunk, top_k=min(args.top_k, len(model.classes)),
                          structure_cache=structure_cache, workers=args.workers, progress=_progress(position))
  duplicates.warn()
  print(f"wrote {n} predictions ({model.meta['model']}) to {args.output}", file=sys.stderr)


def _levels(text: str) -> list[float]:
  """--boundary_noise's comma-separated percentages."""
  try:
    return [float(v) for v in text.split(",")]
  except ValueError:
    raise ValueError(f"--boundary_noise={text}: expected comma-separated percentages such as 0,100,200") from None


def _evaluate(args) -> None:
  from rcl import evaluate  # noqa: PLC0415
  from rcl.data.fasta import ReadPosition  # noqa: PLC0415
  if args.boundary_noise is None and (args.noise_kind is not None or args.noise_seed is not None):
    raise ValueError("--noise_kind and --noise_seed apply to --boundary_noise only")
  if args.force and args.out is None:
    raise ValueError("--force applies to --out only")
  levels = None if args.boundary_noise is None else _levels(args.boundary_noise)
  if levels is not None:
    evaluate.check_levels(levels)
    if args.input == "-":
      raise ValueError("--boundary_noise reads the input once per level: give a file, not standard input")
  if args.novel is not None and not os.path.isfile(args.novel):
    raise ValueError(f"--novel={args.novel}: no such file")
  made = [] if args.out is None else _check_out_dir(args.out, args.force)
  model, structure_cache, position = _prepare(args)
  if args.novel is not None and model.novelty_rule is None:
    raise ValueError(f"--novel: the bundle {args.model} has no novelty rule (exported by an older rcl, or from a run "
                     "without the calibration and novelty stage)")
  duplicates = _Duplicates(args.input)
  if args.out is not None:
    os.makedirs(args.out, exist_ok=True)
  with (contextlib.nullcontext() if args.out is None else
        _output(os.path.join(args.out, "predictions.tsv"), 1, made)) as predictions:
    if levels is None:
      result = evaluate.evaluate(model, duplicates.follow(_records(args.input, True, position)),
                                 chunk_size=args.chunk, workers=args.workers, structure_cache=structure_cache,
                                 predictions=predictions, progress=_progress(position))
    else:
      positions: list[ReadPosition] = []

      def open_records():  # the file again for every level, followed by its own ReadPosition
        positions.append(ReadPosition())
        records = _records(args.input, True, positions[-1])
        return duplicates.follow(records) if len(positions) == 1 else records

      results, noise = evaluate.evaluate_boundary_noise(
          model, open_records, levels, kind=args.noise_kind or "dinucleotide", seed=args.noise_seed or 0,
          chunk_size=args.chunk, workers=args.workers, structure_cache=structure_cache, predictions=predictions,
          progress=lambda level: _progress(positions[-1], f"boundary noise {level:g}%: "))
      result = results[evaluate.reference_level(levels)]
  duplicates.warn()
  if result.get("seen"):
    print(f"warning: {result['seen']} of the {result['records']} records of {args.input} were in the model's training "
          "or validation data (metrics on the unseen ones are reported apart)", file=sys.stderr)
  if args.novel is not None:
    result["novel"] = evaluate.evaluate_novel(model, result, _records(args.novel, False, None), chunk_size=args.chunk,
                                              workers=args.workers, structure_cache=structure_cache)
  print(evaluate.summary(result), end="")
  if levels is not None:
    print("\n" + evaluate.noise_table(noise), end="")
  if args.out is not None:
    paths = evaluate.write(result, args.out)
    if levels is not None:
      paths += evaluate.write_boundary_noise(noise, args.out)
    print(f"wrote {', '.join(os.path.basename(p) for p in paths)} and predictions.tsv to {args.out}")


def _export(args) -> None:
  from rcl import bundle  # noqa: PLC0415
  meta = bundle.export(args.workdir, args.model, args.out, class_names=args.class_names)
  named = meta.get("class_names", {})
  names = f", names of {len(named)} from {meta['provenance']['class_names_from']}" if named else ""
  print(f"exported {meta['model']} ({len(meta['classes'])} classes{names}, test accuracy "
        f"{meta['provenance']['test_accuracy']:.4f}) to {args.out}")


def _models(args) -> None:
  from rcl import bundle  # noqa: PLC0415
  for directory in [resolve_model(b) for b in args.bundles] or shipped():
    meta = bundle.load(directory).meta
    print(json.dumps({"bundle": directory, "model": meta["model"], "classes": meta["classes"],
                      "class_names": meta.get("class_names"), "max_len": meta["max_len"],
                      "temperature": meta.get("calibration", {}).get("temperature"),
                      "novelty": meta.get("novelty"), "provenance": meta["provenance"]}, indent=1))


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
