"""The `rcl` command line: its subcommands, options, help texts and examples (argparse)."""

from __future__ import annotations

import argparse
import importlib.metadata

from rcl.cli.model_lookup import DEFAULT_MODEL
from rcl.data.flanks import KINDS

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


def build() -> argparse.ArgumentParser:
  """The parser of the whole command line; the subcommand's name lands in `command`."""
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
