"""`rcl export` and `rcl models`: writing a model bundle from a training run, and describing bundles."""

from __future__ import annotations

import json
import sys

from rcl.cli.model_lookup import resolve_model, shipped


def export(args) -> None:
  """Exports --model of the run in --workdir as the bundle --out, and prints a line about it."""
  from rcl.experiment.export import export as export_bundle  # noqa: PLC0415
  meta = export_bundle(args.workdir, args.model, args.out, class_names=args.class_names)
  named = meta.get("class_names", {})
  names = f", names of {len(named)} from {meta['provenance']['class_names_from']}" if named else ""
  print(f"exported {meta['model']} ({len(meta['classes'])} classes{names}, test accuracy "
        f"{meta['provenance']['test_accuracy']:.4f}) to {args.out}")
  warning = untrusted(meta, args.workdir)
  if warning:
    print(warning, file=sys.stderr)


def untrusted(meta: dict, workdir: str) -> str | None:
  """The warning for a bundle exported without a calibration or novelty rule (a run with --notrust, or a model
  that reads structure), or None."""
  missing = [what for key, what in (("calibration", "calibrated probabilities"),
                                    ("novelty", "'unclassified' call")) if key not in meta]
  if not missing:
    return None
  return (f"warning: {workdir} measured no calibration or novelty for {meta['model']} (a run with --notrust, or a "
          f"model that reads structure): the bundle has no {' and no '.join(missing)}")


def models(args) -> None:
  """Prints a JSON description of every bundle named (default: the shipped ones)."""
  from rcl import bundle  # noqa: PLC0415
  for directory in [resolve_model(b) for b in args.bundles] or shipped():
    meta = bundle.load(directory).meta
    print(json.dumps({"bundle": directory, "model": meta["model"], "classes": meta["classes"],
                      "class_names": meta.get("class_names"), "max_len": meta["max_len"],
                      "temperature": meta.get("calibration", {}).get("temperature"),
                      "calibration": meta.get("calibration", {}).get("method"),
                      "novelty": meta.get("novelty"), "provenance": meta["provenance"]}, indent=1))
