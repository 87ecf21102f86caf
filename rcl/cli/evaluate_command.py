"""`rcl evaluate`: a model scored on a labelled FASTA file, under boundary noise and against a novel set."""

from __future__ import annotations

import contextlib
import os
import sys

from rcl.cli import inputs
from rcl.cli.outputs import check_out_dir, output_file
from rcl.cli.progress import progress


def _levels(text: str) -> list[float]:
  """--boundary_noise's comma-separated percentages."""
  try:
    return [float(v) for v in text.split(",")]
  except ValueError:
    raise ValueError(f"--boundary_noise={text}: expected comma-separated percentages such as 0,100,200") from None


def run(args) -> None:
  """Checks the options, scores --model on --input (at every --boundary_noise level), prints the summary and
  writes the files of --out."""
  from rcl.bundle_evaluation import boundary_noise, labelled_metrics, novel, report  # noqa: PLC0415
  from rcl.data.fasta import ReadPosition  # noqa: PLC0415
  if args.boundary_noise is None and (args.noise_kind is not None or args.noise_seed is not None):
    raise ValueError("--noise_kind and --noise_seed apply to --boundary_noise only")
  if args.force and args.out is None:
    raise ValueError("--force applies to --out only")
  levels = None if args.boundary_noise is None else _levels(args.boundary_noise)
  if levels is not None:
    boundary_noise.check_levels(levels)
    if args.input == "-":
      raise ValueError("--boundary_noise reads the input once per level: give a file, not standard input")
  if args.novel is not None and not os.path.isfile(args.novel):
    raise ValueError(f"--novel={args.novel}: no such file")
  made = [] if args.out is None else check_out_dir(args.out, args.force)
  model, structure_cache, position = inputs.prepare(args)
  if args.novel is not None and model.novelty_rule is None:
    raise ValueError(f"--novel: the bundle {args.model} has no novelty rule (exported by an older rcl, or from a run "
                     "without the calibration and novelty stage)")
  duplicates = inputs.Duplicates(args.input)
  if args.out is not None:
    os.makedirs(args.out, exist_ok=True)
  with (contextlib.nullcontext() if args.out is None else
        output_file(os.path.join(args.out, "predictions.tsv"), 1, made)) as predictions:
    if levels is None:
      result = labelled_metrics.evaluate(model, duplicates.follow(inputs.records(args.input, True, position)),
                                         chunk_size=args.chunk, workers=args.workers, structure_cache=structure_cache,
                                         predictions=predictions, progress=progress(position))
    else:
      positions: list[ReadPosition] = []

      def open_records():  # the file again for every level, followed by its own ReadPosition
        positions.append(ReadPosition())
        records = inputs.records(args.input, True, positions[-1])
        return duplicates.follow(records) if len(positions) == 1 else records

      results, noise = boundary_noise.evaluate_boundary_noise(
          model, open_records, levels, kind=args.noise_kind or "dinucleotide", seed=args.noise_seed or 0,
          chunk_size=args.chunk, workers=args.workers, structure_cache=structure_cache, predictions=predictions,
          progress=lambda level: progress(positions[-1], f"boundary noise {level:g}%: "))
      result = results[boundary_noise.reference_level(levels)]
  duplicates.warn()
  if result.get("seen"):
    print(f"warning: {result['seen']} of the {result['records']} records of {args.input} were in the model's training "
          "or validation data (metrics on the unseen ones are reported apart)", file=sys.stderr)
  if args.novel is not None:
    result["novel"] = novel.evaluate_novel(model, result, inputs.records(args.novel, False, None),
                                           chunk_size=args.chunk, workers=args.workers, structure_cache=structure_cache)
  print(report.summary(result), end="")
  if levels is not None:
    print("\n" + report.noise_table(noise), end="")
  if args.out is not None:
    paths = report.write(result, args.out)
    if levels is not None:
      paths += report.write_boundary_noise(noise, args.out)
    print(f"wrote {', '.join(os.path.basename(p) for p in paths)} and predictions.tsv to {args.out}")
