"""The data stage: labelled FASTA files to encoded splits, with secondary structures where a model needs them."""

from __future__ import annotations

import dataclasses
import os

from rcl import files
from rcl.config import ExperimentConfig
from rcl.data import seen
from rcl.data.dataset import SPLITS, DataSet, load_dataset
from rcl.data.structure import attach_structures, fold_all
from rcl.experiment import fingerprints
from rcl.experiment.progress import FoldLog, Log
from rcl.models import monikers
from rcl.workdir import DATA_SUMMARY, SEEN, SPLIT_IDS, VOCABULARY, Workdir


def load(config: ExperimentConfig, *, log: Log, on_fold: FoldLog | None = None) -> DataSet:
  """Loads and splits the data and folds structures if any model reads them, writing nothing under the
  workdir; the summary holds the folding statistics and the data files' fingerprint."""
  settings = config.data
  log("loading data")
  data = load_dataset(settings.files, train_files=settings.train_files, val_files=settings.val_files,
                      test_files=settings.test_files, seed=config.seed_of("split"), max_len=settings.max_len,
                      fractions=settings.fractions, on_conflict=settings.on_conflict,
                      holdout=settings.holdout_families)
  s = data.summary
  log(f"data: {len(data.classes)} classes; train {s['train']['records']}, val {s['val']['records']}, "
      f"test {s['test']['records']}; {sum(s[n]['cut_to_max_len'] for n in SPLITS)} cut to {settings.max_len}; "
      f"{sum(s[n]['with_ambiguity_codes'] for n in SPLITS)} with ambiguity codes")
  if data.novel:
    log("held-out families (novel): " + ", ".join(f"{n} {len(s['holdout'][n]['families'])} families, "
                                                  f"{s['holdout'][n]['records']} records" for n in data.novel))
  kinds = {m.input_kind for m in monikers.parse_monikers(config.models)}
  if config.sweep.model:
    kinds.add(monikers.MONIKERS[config.sweep.model].input_kind)
  if kinds - {"seq"}:
    structures = _add_structures(config, data, log=log, on_fold=on_fold)
    data = dataclasses.replace(data, summary=dict(data.summary, structures=structures))
  data.summary["data_fingerprint"] = fingerprints.data_fingerprint(config)
  return data


def write(config: ExperimentConfig, data: DataSet) -> None:
  """Writes vocabulary.json, splits.json, data_summary.json and the digests of the training and validation
  sequences (`rcl.data.seen`) under the workdir."""
  workdir = Workdir(config.workdir)
  files.write_json(workdir.file(VOCABULARY), {"classes": data.classes})
  files.write_json(workdir.file(SPLIT_IDS), {n: split.ids for n, split in data.splits.items()})
  files.write_json(workdir.file(DATA_SUMMARY), data.summary)
  known = (s for name in ("train", "val") for s in data.splits[name].sequences)
  files.write_npz(workdir.file(SEEN), {"digests": seen.table(known)})


def _add_structures(config: ExperimentConfig, data: DataSet, *, log: Log, on_fold: FoldLog | None) -> dict:
  """Folds every sequence of every split (cached) and attaches the structure codes; returns fold stats."""
  sequences = [s for name in SPLITS for s in data.splits[name].sequences]
  log(f"folding {len(sequences)} sequences with ViennaRNA (cache: {config.data.structure_cache})")
  structures, stats = fold_all(sequences, config.data.structure_cache, config.data.fold_workers, on_fold)
  start = 0
  for name in SPLITS:
    split = data.splits[name]
    attach_structures(split, structures[start:start + len(split)], config.data.max_len)
    start += len(split)
  log(f"structures: {stats['cached']} from cache, {stats['folded']} folded, {stats['seconds']:.1f} s")
  return stats
