"""The entry point on a few hundred real nRC records: results, report, resume, cache, reproducibility."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rcl.analysis.metrics import METRIC_KEYS

from rcl.data.fasta import read_fasta

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _subset(real_data, tmp_path, per_class=25):
  records = read_fasta(os.path.join(real_data, "nrc", "dataset_Rfam_6320_13classes.fasta"))
  taken, lines = {}, []
  for r in records:
    if taken.get(r.label, 0) < per_class and len(r.sequence) <= 300:
      taken[r.label] = taken.get(r.label, 0) + 1
      lines.append(f">{r.id} {r.label}\n{r.sequence}\n")
  path = tmp_path / "subset.fasta"
  path.write_text("".join(lines))
  return path, sum(taken.values())


def _labels(fasta, ids):
  by_id = {r.id: r.label for r in read_fasta(fasta)}
  return [by_id[i] for i in ids]


def _run(args, cwd):
  env = dict(os.environ, PYTHONPATH=REPO)
  proc = subprocess.run([sys.executable, "-m", "experiments.run", *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
  return proc.stdout


def test_tiny_experiment_runs_resumes_and_caches(real_data, tmp_path):
  fasta, n = _subset(real_data, tmp_path)
  workdir = tmp_path / "run"
  args = [f"--data_dir={tmp_path}", "--files=subset.fasta", f"--workdir={workdir}", "--models=A,E,G",
          "--cnn_filters=4", "--cnn_dense=8,8", "--rnn_hidden=4", "--rnn_dense=8,8,8", "--max_len=320",
          "--cnn_epochs=2", "--rnn_epochs=1", "--batch_size=32", f"--structure_cache={tmp_path / 'cache'}",
          "--fold_workers=1", "--collab=LD(A)+O(G),LD(A)+LD(E)", "--collab_epochs=2"]
  out = _run(args, REPO)
  assert "[A] epoch 2/2" in out and "[G] epoch 1/1" in out and "ETA" in out
  assert f"folding {n} sequences" in out and f"0 from cache, {n} folded" in out
  results = json.loads((workdir / "results.json").read_text())
  for name in ("A", "G"):
    entry = results["models"][name]
    for split in ("val", "test"):
      assert set(entry[split]) == set(METRIC_KEYS)
      assert 0.0 <= entry[split]["accuracy"] <= 1.0
      assert entry[split]["recall_weighted"] == pytest.approx(entry[split]["accuracy"])
    ci = entry["test_accuracy_ci"]
    assert ci["low"] <= entry["test"]["accuracy"] <= ci["high"]
    for figure in ("curves", "confusion"):
      assert (workdir / entry["figures"][figure]).stat().st_size > 1000
    assert entry["epochs"] == {"A": 2, "G": 1}[name] and entry["wall_seconds"] > 0
  vocab = json.loads((workdir / "vocabulary.json").read_text())["classes"]
  assert len(vocab) == 13 and vocab == sorted(vocab)
  report = (workdir / "report.md").read_text()
  assert "| A | CNN (256) [filters overridden: 4]" in report and "*paper, Test13*" in report
  history = json.loads((workdir / "models" / "A" / "history.json").read_text())
  assert len(history["val_accuracy"]) == 2
  collab = results["collaborative"]["LD(A)+O(G)"]
  assert collab["epochs"] == 2 and 0.0 <= collab["test"]["accuracy"] <= 1.0
  assert "## Table 2: collaborative models" in report and "| LD(A)+O(G) | collaborative MLP" in report
  # The plain ensemble baseline: the mean of A's and G's test softmax outputs, and the paired tests against it.
  feats = {m: np.load(workdir / "models" / m / "features.npz") for m in ("A", "G")}
  labels = [vocab.index(c) for c in _labels(fasta, json.loads((workdir / "splits.json").read_text())["test"])]
  mean = (feats["A"]["test/O"] + feats["G"]["test/O"]) / 2
  assert results["ensembles"]["Ensemble(A+G)"]["test"]["accuracy"] == pytest.approx(np.mean(mean.argmax(1) == labels))
  assert "| Ensemble(A+G) | mean of softmax outputs (no training)" in report
  cmp = collab["comparison"]
  assert cmp["best_component"] in ("A", "G") and set(cmp["rivals"]) == {"A", "G", "Ensemble(A+G)"}
  for rival in cmp["rivals"].values():
    assert 0.0 <= rival["mcnemar"]["p_value"] <= 1.0
  assert "## Is collaboration better?" in report and "McNemar" in report
  # The default collaborative MLP learns from in-sample features (with input noise): no training-mode draws kept.
  summary = json.loads((workdir / "data_summary.json").read_text())
  assert "train_sampled/LD" not in feats["A"] and feats["A"]["train/LD"].shape[0] == summary["train"]["records"]
  assert collab["input_noise"] == 1.0 and collab["train_features"] == "in_sample"
  assert summary["train"]["records"] + summary["val"]["records"] + summary["test"]["records"] == n

  # The same command again: every model resumes from its checkpoint, nothing is folded or retrained.
  again = _run(args, REPO)
  assert f"{n} from cache, 0 folded" in again and "epoch 1/" not in again
  second = json.loads((workdir / "results.json").read_text())
  for name in ("A", "G"):
    assert second["models"][name]["resumed_from_epoch"] == results["models"][name]["epochs"]
    assert second["models"][name]["test"] == results["models"][name]["test"]

  # Exported bundles, loaded without the workdir, reproduce the workdir's test-set predictions exactly (the
  # CNN read at full width as in training); with the CNN's exact inference windows (the default), the same
  # classes and the probabilities to 1e-6.
  from rcl import bundle  # noqa: PLC0415
  from rcl.experiment import export  # noqa: PLC0415
  env = dict(os.environ, PYTHONPATH=REPO)
  test_ids = json.loads((workdir / "splits.json").read_text())["test"]
  from rcl.data.dataset import Split  # noqa: PLC0415
  from rcl.data.encoding import encode_sequences  # noqa: PLC0415
  from rcl.data.structure import attach_structures, fold_all  # noqa: PLC0415
  by_id = {r.id: r.sequence for r in read_fasta(fasta)}
  seqs = [by_id[i] for i in test_ids]
  enc = encode_sequences(seqs, 320)
  split = Split(list(test_ids), seqs, enc.codes, enc.lengths, np.zeros(len(seqs), np.int32))
  attach_structures(split, fold_all(seqs, str(tmp_path / "cache"), 1)[0], 320)
  for spec, directory in (("A", "A"), ("LD(A)+O(G)", "collab_LD_A_O_G"), ("LD(A)+LD(E)", "collab_LD_A_LD_E")):
    out = tmp_path / f"bundle_{directory}"
    export.export(str(workdir), spec, str(out))
    loaded = bundle.load(str(out))
    saved = np.load(workdir / "models" / directory / "predictions.npz")["test"]
    np.testing.assert_array_equal(loaded.predict(split, shapes="training"), saved, err_msg=spec)
    windowed = loaded.predict(split)
    np.testing.assert_array_equal(windowed.argmax(1), saved.argmax(1), err_msg=spec)
    np.testing.assert_allclose(windowed, saved, rtol=0, atol=1e-6, err_msg=spec)
  # `rcl classify` streams the whole FASTA through the exported collaborative bundle, in small chunks.
  tsv = tmp_path / "pred.tsv"
  proc = subprocess.run([sys.executable, "-m", "rcl.cli", "classify", f"--model={tmp_path / 'bundle_collab_LD_A_O_G'}",
                         f"--input={fasta}", f"--output={tsv}", "--chunk=40",
                         f"--structure_cache={tmp_path / 'cache'}"], cwd=tmp_path, env=env, capture_output=True,
                        text=True)
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = tsv.read_text().splitlines()
  assert lines[0].split("\t") == ["id", "length", "call", "predicted", "name", "probability", "novelty", "top", "flags"]
  assert len(lines) == n + 1
  predicted = {r.split("\t")[0]: r.split("\t")[3] for r in lines[1:]}
  collab_test = np.load(workdir / "models" / "collab_LD_A_O_G" / "predictions.npz")["test"]
  assert [predicted[i] for i in test_ids] == [vocab[k] for k in collab_test.argmax(1)]
  assert f"classified {n} records" in proc.stderr
  (out / "networks" / "A.msgpack").write_bytes(b"tampered")
  with pytest.raises(bundle.BundleError, match="missing or altered"):
    bundle.load(str(out))

  # A fresh run of the same command with the same seed reproduces every metric exactly (CPU).
  fresh = tmp_path / "fresh"
  _run([a if not a.startswith("--workdir") else f"--workdir={fresh}" for a in args], REPO)
  third = json.loads((fresh / "results.json").read_text())
  for section in ("models", "collaborative"):
    for name, entry in results[section].items():
      assert third[section][name]["val"] == entry["val"] and third[section][name]["test"] == entry["test"], name


def test_run_identity_names_only_settings_off_their_defaults():
  from rcl.config import DataConfig, ExperimentConfig  # noqa: PLC0415
  from rcl.experiment.identity import fit_identity  # noqa: PLC0415
  from rcl.train.fit_config import FitConfig  # noqa: PLC0415
  plain = fit_identity(dataclasses.replace(ExperimentConfig(rnn_buckets=()).fit_for("rnn"), epochs=5))
  assert plain == {}  # so a new option, at its default, leaves older runs resumable
  config = ExperimentConfig(rnn=FitConfig(epochs=5, batch_size=32, ema_decay=0.999, clip_norm=1.0),
                            cnn=FitConfig(batch_size=32), rnn_buckets=(64, 128), data=DataConfig(max_len=128))
  rnn = fit_identity(config.fit_for("rnn"))
  assert rnn == {"batch_size": 32, "ema_decay": 0.999, "clip_norm": 1.0, "bucket_lengths": [64, 128]}
  assert fit_identity(config.fit_for("cnn")) == {"batch_size": 32}  # per architecture
  assert config.fit_for("rnn", epochs=7).epochs == 7 and config.fit_for(None).bucket_lengths is None


def test_boundary_noise_table_with_a_pooled_cnn_trained_on_flanks(real_data, tmp_path):
  """--boundary_noise evaluates every model (components, ensemble, collaborative) on flanked validation and
  test copies; level 0 is the clean split exactly. A pooled-head CNN trains on length buckets with training
  flanks, the collaborative MLP also learns from a flanked copy of the training split, and their bundles
  reproduce the workdir's predictions."""
  fasta, _ = _subset(real_data, tmp_path, per_class=12)
  workdir = tmp_path / "run"
  _run([f"--data_dir={tmp_path}", "--files=subset.fasta", f"--workdir={workdir}", "--models=A,E",
        "--cnn_filters=4", "--cnn_dense=8,8", "--rnn_hidden=4", "--rnn_dense=8,8,8", "--max_len=640",
        "--cnn_head=window", "--augment_flanks=0.5", "--cnn_epochs=2", "--rnn_epochs=1", "--batch_size=32",
        "--collab=LD(A)+LD(E)", "--collab_epochs=2", "--collab_flank_copies=1", "--boundary_noise=0,100"], REPO)
  results = json.loads((workdir / "results.json").read_text())
  bn = results["boundary_noise"]
  assert bn["levels"] == [0.0, 100.0] and bn["kind"] == "dinucleotide"
  assert set(bn["models"]) == {"A", "E", "Ensemble(A+E)", "LD(A)+LD(E)"}
  sections = {"A": "models", "E": "models", "Ensemble(A+E)": "ensembles", "LD(A)+LD(E)": "collaborative"}
  for name, section in sections.items():
    for split in ("val", "test"):
      curve = bn["models"][name][split]
      assert len(curve["accuracy"]) == 2 and len(curve["f1_macro"]) == 2
      assert curve["accuracy"][0] == pytest.approx(results[section][name][split]["accuracy"]), (name, split)
      assert curve["f1_macro"][0] == pytest.approx(results[section][name][split]["f1_macro"]), (name, split)
  report = (workdir / "report.md").read_text()
  assert "## Boundary noise" in report and "| LD(A)+LD(E) |" in report.split("## Boundary noise")[1]
  assert (workdir / bn["figure"]).stat().st_size > 1000
  # The pooled CNN's bundle reads length buckets and gives the workdir's test predictions.
  from rcl import bundle  # noqa: PLC0415
  from rcl.experiment import export  # noqa: PLC0415
  from rcl.data.dataset import Split  # noqa: PLC0415
  from rcl.data.encoding import encode_sequences  # noqa: PLC0415
  test_ids = json.loads((workdir / "splits.json").read_text())["test"]
  by_id = {r.id: r.sequence for r in read_fasta(fasta)}
  seqs = [by_id[i] for i in test_ids]
  enc = encode_sequences(seqs, 640)
  split = Split(list(test_ids), seqs, enc.codes, enc.lengths, np.zeros(len(seqs), np.int32))
  collab = results["collaborative"]["LD(A)+LD(E)"]
  assert collab["flank_copies"] == 1
  features = np.load(workdir / "models" / "A" / "features.npz")
  assert features["train_flanked/LD"].shape == (1,) + features["train/LD"].shape
  for spec, directory in (("A", "A"), ("LD(A)+LD(E)", "collab_LD_A_LD_E"), ("Ensemble(A+E)", "collab_Ensemble_A_E")):
    export.export(str(workdir), spec, str(tmp_path / f"bundle_{directory}"))
    loaded = bundle.load(str(tmp_path / f"bundle_{directory}"))
    assert loaded.meta["networks"]["A"]["buckets"] and loaded.meta["hyper"]["cnn_head"] == "window"
    saved = np.load(workdir / "models" / directory / "predictions.npz")["test"]
    np.testing.assert_array_equal(loaded.predict(split), saved, err_msg=spec)
    assert loaded.meta["provenance"]["boundary_noise"]["test"] == bn["models"][spec]["test"]
  # 'best': chosen on validation accuracy averaged over the clean and flanked validation copies.
  meta = export.export(str(workdir), "best", str(tmp_path / "bundle_best"))
  averaged = {name: np.mean(curve["val"]["accuracy"]) for name, curve in bn["models"].items()}
  assert meta["provenance"]["chosen_by"]["score"] == pytest.approx(max(averaged.values()))
  assert averaged[meta["model"]] == max(averaged.values())


def test_a_checkpoint_of_an_earlier_identity_version_is_refused_saying_why():
  """Checkpoints of identity versions before 3 drew noise and dropout per device: a run refuses them, naming
  the version and what changed, while settings of its own version are named field by field."""
  from rcl.experiment import identity  # noqa: PLC0415
  from rcl.models.cnn import CNN  # noqa: PLC0415
  from rcl.train.fit_config import FitConfig  # noqa: PLC0415
  model, fit_config = CNN(num_classes=3, filters=4), FitConfig(batch_size=16)
  ident = identity.Identity({"version": identity.VERSION, "model": identity.model_identity(model),
                             "fit": identity.fit_identity(fit_config)})
  assert ident.current["model"] == {"module": "CNN", "num_classes": 3, "filters": 4}
  assert ident.matches(dict(ident.current)) and identity.VERSION == 3
  older = dict(ident.current, version=2)
  assert not ident.matches(older)
  assert ident.differences(older) == ("it was trained by an earlier rcl (run identity version 2, now 3: noise and "
                                      "dropout are drawn per example, the same on any number of devices)")
  assert "version 1, now 3" in ident.differences({"model": "CNN(...)", "fit": "FitConfig(batch_size=16)"})
  other = dict(ident.current, fit=identity.fit_identity(FitConfig(batch_size=8)))
  assert ident.differences(other) == "fit: {'batch_size': 8} in the checkpoint, {'batch_size': 16} now"


def test_an_older_config_json_with_one_shared_fit_reads_as_one_fit_config_per_family():
  """config.json written before the families had a FitConfig each: its shared settings go to every family,
  the per-family epochs, averaging and clipping to theirs, the collaborative MLP's epochs and selection to
  collab.fit (which gets no training flanks), so `rcl export` still reads older workdirs."""
  from rcl.config import read  # noqa: PLC0415
  config = read({"fit": {"batch_size": 32, "learning_rate": 0.01, "augment_flanks": 0.5, "selection": "best_val_loss"},
                 "cnn": {"epochs": 3, "ema_decay": 0.0, "clip_norm": 0.0},
                 "rnn": {"epochs": 4, "ema_decay": 0.9, "clip_norm": 1.0},
                 "collab": {"specs": [], "epochs": 5, "selection": "last"}})
  assert (config.cnn.epochs, config.cnn.batch_size, config.cnn.augment_flanks) == (3, 32, 0.5)
  assert (config.rnn.epochs, config.rnn.ema_decay, config.rnn.clip_norm, config.rnn.learning_rate) == (4, 0.9, 1.0, 0.01)
  assert config.cnn.selection == config.rnn.selection == "best_val_loss"
  mlp = config.fit_for(None)
  assert (mlp.epochs, mlp.selection, mlp.batch_size, mlp.augment_flanks) == (5, "last", 32, 0.0)


def test_variance_study_varies_one_seed_source_at_a_time(real_data, tmp_path):
  """--vary=init,collab --trials=2: the base run once, an init trial, a collab trial and an all-sources trial;
  the collab trial reuses the base's components (their sd is 0) and retrains only the MLP; report.md and
  results.json hold the sd per source and model."""
  fasta, _ = _subset(real_data, tmp_path, per_class=10)
  workdir = tmp_path / "study"
  out = _run([f"--data_dir={tmp_path}", f"--files={fasta.name}", "--models=A,E", "--cnn_filters=4",
              "--cnn_dense=8,8", "--rnn_hidden=4", "--rnn_attention=8", "--rnn_dense=8,8,8", "--max_len=160",
              "--rnn_buckets=80,160", "--batch_size=16", "--cnn_epochs=2", "--rnn_epochs=1",
              "--collab=LD(A)+LD(E)", "--collab_epochs=3", "--cca_trials=0", "--boundary_noise=",
              f"--workdir={workdir}", "--seed=5", "--vary=init,collab", "--trials=2"], REPO)
  trials = sorted(p.name for p in (workdir / "variance").iterdir())
  assert trials == ["all_1", "base", "collab_1", "init_1"]
  assert "[A] reusing the trained component" in out
  config = json.loads((workdir / "variance" / "init_1" / "config.json").read_text())
  assert config["seeds"]["init_seed"] == 6 and config["seeds"]["order_seed"] is None and config["seed"] == 5
  results = json.loads((workdir / "results.json").read_text())["variance"]
  assert results["sources"] == ["init", "collab", "all"] and results["trials"] == {"init": 2, "collab": 2, "all": 2}
  gain = "LD(A)+LD(E) − best component"
  assert {"A", "E", "LD(A)+LD(E)", "Ensemble(A+E)", gain} <= set(results["quantities"]), results["quantities"]
  assert results["sd"]["A"]["collab"]["sd"] == 0 and results["sd"]["E"]["collab"]["sd"] == 0
  base, init = (np.load(workdir / "variance" / w / "models" / "A" / "predictions.npz")["test"] for w in ("base", "init_1"))
  assert not np.allclose(base, init)  # another initialisation, another model
  values = results["sd"]["A"]["init"]["values"]
  assert results["sd"]["A"]["init"]["sd"] == pytest.approx(np.std(values, ddof=1))
  report = (workdir / "report.md").read_text()
  assert "## Standard deviation of test accuracy by seed source" in report and f"| {gain} |" in report
  assert os.path.getsize(workdir / results["figure"]) > 1000


def test_a_variance_trial_compiles_nothing_its_base_compiled(real_data, tmp_path, compilations):
  """A trial of a variance study (another init seed, in the same process) reuses every compiled function of the
  run before it: training, feature extraction, the collaborative MLP, calibration and novelty. (The selected
  state once carried the new module's own `apply`, so every trial recompiled the RNN's prediction for each
  length bucket.)"""
  from rcl.config import AnalysisConfig, CollabConfig, DataConfig, ExperimentConfig, FitConfig  # noqa: PLC0415
  from rcl.config.seeds import Seeds  # noqa: PLC0415
  from rcl.experiment.pipeline import run_experiment  # noqa: PLC0415
  from rcl.models.monikers import Hyper  # noqa: PLC0415
  fasta, _ = _subset(real_data, tmp_path, per_class=8)
  config = ExperimentConfig(
      workdir=str(tmp_path / "base"), models=("A", "E"), rnn_buckets=(80, 160),
      data=DataConfig(files=(str(fasta),), max_len=160),
      hyper=Hyper(cnn_filters=4, cnn_dense=(8, 8), rnn_hidden=4, rnn_attention=8, rnn_dense=(8, 8, 8)),
      cnn=FitConfig(epochs=1, batch_size=16), rnn=FitConfig(epochs=1, batch_size=16),
      collab=CollabConfig(specs=("LD(A)+LD(E)",), fit=FitConfig(epochs=1, batch_size=16)),
      analysis=AnalysisConfig(cca_trials=0))
  base = run_experiment(config)
  with compilations() as compiled:
    trial = run_experiment(dataclasses.replace(config, workdir=str(tmp_path / "init_1"), seeds=Seeds(init_seed=1)))
  assert len(compiled) == 0, f"{len(compiled)} compilations ({sum(compiled):.1f} s) in the trial"
  assert trial.models["A"].accuracy("val") != base.models["A"].accuracy("val") or (
      trial.models["E"].accuracy("val") != base.models["E"].accuracy("val"))  # really another model
