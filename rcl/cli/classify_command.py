"""`rcl classify`: the class of every record of a FASTA file, as TSV or JSONL."""

from __future__ import annotations

import contextlib
import sys

from rcl.cli import inputs
from rcl.cli.outputs import check_output, output_file
from rcl.cli.progress import progress


def run(args) -> None:
  """Classifies --input with --model into --output, with a progress line per chunk on standard error."""
  from rcl import classify  # noqa: PLC0415
  if args.output != "-":
    check_output(args.output)
  model, structure_cache, position = inputs.prepare(args, args.top_k)
  duplicates = inputs.Duplicates(args.input)
  header_lines = 1 if args.format == "tsv" else 0
  with contextlib.nullcontext(sys.stdout) if args.output == "-" else output_file(args.output, header_lines) as out:
    n = classify.classify(model, duplicates.follow(inputs.records(args.input, False, position)), out,
                          fmt=args.format, chunk_size=args.chunk, top_k=min(args.top_k, len(model.classes)),
                          structure_cache=structure_cache, workers=args.workers, progress=progress(position))
  duplicates.warn()
  print(f"wrote {n} predictions ({model.meta['model']}) to {args.output}", file=sys.stderr)
