"""Classifying new sequences with a component trained by `run_experiment` (its selected checkpoint)."""

from __future__ import annotations

import json
import os

import numpy as np

from rcl.config import ExperimentConfig, from_dict
from rcl.data.batching import batches
from rcl.data.dataset import load_unlabelled
from rcl.data.structure import attach_structures, fold_all
from rcl.models import monikers
from rcl.train.checkpoint import load_selected
from rcl.train.predict import predict


def load_run_config(workdir: str) -> ExperimentConfig:
  """The configuration a finished experiment directory was run with (its config.json)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: {workdir} is not an rcl experiment directory")
  with open(path) as f:
    saved = json.load(f)
  saved.pop("command", None)
  return from_dict(ExperimentConfig, saved)


def classify(workdir: str, moniker_name: str, fasta: str, *, structure_cache: str | None = None,
             batch_size: int = 256, top_k: int = 3) -> list[dict]:
  """Predicts classes for every record of `fasta` (labels in headers are ignored).

  Args:
    workdir: a finished experiment directory (config.json, vocabulary.json, models/<moniker>/checkpoints).
    moniker_name: which trained component to use (A-G).
    fasta: the sequences to classify.
    structure_cache: ViennaRNA cache for sec / seq+sec models.
    batch_size: inference batch.
    top_k: how many ranked classes to return per sequence.

  Returns:
    One dict per record, in file order: id, length, predicted class, its probability, and the top_k
    (class, probability) pairs.
  """
  config = load_run_config(workdir)
  with open(os.path.join(workdir, "vocabulary.json")) as f:
    classes = json.load(f)["classes"]
  moniker = monikers.parse_monikers([moniker_name])[0]
  model = monikers.build(moniker, len(classes), config.hyper)
  split = load_unlabelled(fasta, config.data.max_len)
  if moniker.input_kind != "seq":
    structures, _ = fold_all(split.sequences, structure_cache, 0)
    attach_structures(split, structures, config.data.max_len)
  buckets = config.bucket_lengths(moniker.arch)
  example = next(batches(split, 2, bucket_lengths=buckets))
  example.pop("index")
  state, _ = load_selected(os.path.join(workdir, "models", moniker.name, "checkpoints"), model, example,
                           expect={"classes": classes})
  probs = predict(state, split, batch_size, bucket_lengths=buckets)["probs"]
  order = np.argsort(-probs, axis=1)[:, :top_k]
  rows = []
  for i, rid in enumerate(split.ids):
    rows.append({"id": rid, "length": len(split.sequences[i]), "predicted": classes[order[i, 0]],
                 "probability": float(probs[i, order[i, 0]]),
                 "top": [(classes[j], float(probs[i, j])) for j in order[i]]})
  return rows
