"""Calibration, novelty scores, decoys, held-out families and seen-sequence digests: the parts on their own,
then a tiny real-data run through export and the command line."""

import collections
import json
import os

import numpy as np
import pytest
from sklearn.covariance import EmpiricalCovariance

from rcl.analysis import calibration, novelty
from rcl.data import decoys, holdout, seen
from rcl.data.fasta import Record, read_fasta


def _noisy_logits(n=600, classes=5, seed=0):
  rng = np.random.default_rng(seed)
  logits = rng.normal(size=(n, classes)) * 4
  labels = np.argmax(logits + rng.normal(size=(n, classes)) * 3, -1)
  return logits, labels


def test_temperature_is_the_brute_force_nll_minimum():
  logits, labels = _noisy_logits()
  fitted = calibration.fit_temperature(logits, labels)
  grid = np.exp(np.linspace(np.log(0.05), np.log(20), 40001))
  best = grid[np.argmin([calibration.nll(logits, labels, t) for t in grid])]
  assert fitted == pytest.approx(best, rel=1e-3)
  assert fitted > 1.5  # these logits are overconfident: the fit must soften them
  assert calibration.nll(logits, labels, fitted) < calibration.nll(logits, labels)
  before, after = calibration.measures(logits, labels), calibration.measures(logits, labels, fitted)
  assert after["ece"] < before["ece"] and after["brier"] < before["brier"]


def _stepped(n, seed):
  """Logits whose top class is right far less often than temperature scaling can express: 97% of the time
  above a raw confidence of 0.85, 35% below it (the other classes at random)."""
  rng = np.random.default_rng(seed)
  logits = rng.normal(size=(n, 6)) * 2.5
  probs = calibration.softmax(logits)
  right = rng.random(n) < np.where(probs.max(-1) > 0.85, 0.97, 0.35)
  wrong = (probs.argmax(-1) + rng.integers(1, 6, n)) % 6
  return logits, np.where(right, probs.argmax(-1), wrong)


def test_top_label_bins_are_chosen_where_a_temperature_cannot_calibrate():
  logits, labels = _stepped(1500, seed=1)
  fitted = calibration.fit(logits, labels)
  assert fitted.edges is not None and fitted.method == "temperature + top-label binning"
  assert list(fitted.values) == sorted(fitted.values) and len(fitted.values) == len(fitted.edges) + 1
  fresh, fresh_labels = _stepped(3000, seed=2)
  plain = calibration.Calibrator(fitted.temperature)
  binned, tempered = calibration.measures(fresh, fresh_labels, fitted), calibration.measures(fresh, fresh_labels, plain)
  assert binned["ece"] < 0.6 * tempered["ece"]
  probs = fitted.probabilities(fresh)
  np.testing.assert_allclose(probs.sum(-1), 1.0)
  assert (probs.argmax(-1) == fresh.argmax(-1)).all()  # binning never changes the call
  assert calibration.Calibrator.from_dict(fitted.to_dict()) == fitted


def test_a_temperature_alone_is_kept_where_it_calibrates():
  rng = np.random.default_rng(3)
  logits = rng.normal(size=(3000, 6)) * 4
  probs = calibration.softmax(logits, 2.0)  # the truth is these logits at temperature 2
  labels = (rng.random((3000, 1)) > np.cumsum(probs, -1)).sum(-1)
  fitted = calibration.fit(logits, labels)
  assert fitted.edges is None and fitted.temperature == pytest.approx(2.0, rel=0.15)


def test_ece_floor_is_what_a_calibrated_model_measures():
  rng = np.random.default_rng(5)
  probs = calibration.softmax(rng.normal(size=(900, 13)) * 3)
  calls = probs.argmax(-1)
  measured = [calibration.ece(probs, np.where(rng.random(900) < probs.max(-1), calls, (calls + 1) % 13))
              for _ in range(200)]  # calibrated by construction
  mean, high = calibration.ece_floor(probs, draws=300)
  assert 0.01 < mean < high < 0.06  # noise alone keeps the ECE of 900 records well above 0
  assert mean == pytest.approx(np.mean(measured), rel=0.1)
  assert high == pytest.approx(np.quantile(measured, 0.95), rel=0.15)


def test_top_bins_on_hand_worked_values():
  probs = np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1], [0.9, 0.05, 0.05], [0.95, 0.04, 0.01]])
  edges, values = calibration.fit_top_bins(probs, np.array([1, 0, 0, 0]), bins=2)
  # two equal-mass bins: 1 of 2 right, 2 of 2 right; (right + 1/2) / (records + 1)
  assert edges == (0.75,) and values == pytest.approx((0.5, 2.5 / 3))
  edges, values = calibration.fit_top_bins(probs, np.array([0, 0, 1, 0]), bins=2)
  assert values == pytest.approx((2 / 3, 2 / 3))  # 2.5 / 3 then 1.5 / 3: pooled to be non-decreasing
  cal = calibration.Calibrator(1.0, (0.75,), (0.4, 0.9))
  out = cal.probabilities(np.log(probs))
  np.testing.assert_allclose(out[2], [0.9, 0.05, 0.05])
  np.testing.assert_allclose(out[0], [0.4, 0.36, 0.24])  # the others share 0.6 as 0.3 : 0.2
  # 0.4 would put [0.6, 0.3, 0.1]'s runner-up on top (0.45): the top is raised to 0.3 / 0.7 and stays first
  np.testing.assert_allclose(out[1], [3 / 7, 3 / 7, 1 / 7], atol=1e-5)
  assert out[1].argmax() == 0 and out[1, 0] > out[1, 1]


def test_ece_and_brier_on_hand_worked_values():
  probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
  labels = np.array([0, 1, 0, 0])
  # bins: 0.9 (2 records, accuracy 0.5), 0.6 (2 records, accuracy 1.0)
  assert calibration.ece(probs, labels) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
  assert calibration.brier(probs, labels) == pytest.approx((0.02 + 1.62 + 0.32 + 0.32) / 4)
  table = calibration.reliability(probs, labels)
  assert sum(table["count"]) == 4 and table["accuracy"][13] == 0.5 and table["accuracy"][9] == 1.0


def test_mahalanobis_matches_scikit_learn_covariance():
  rng = np.random.default_rng(1)
  labels = rng.integers(0, 3, 400)
  features = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + labels[:, None] * 2.0
  means, cov = novelty.shared_covariance(features, labels, 3)
  reference_cov = EmpiricalCovariance(assume_centered=True).fit(features - means[labels]).covariance_
  np.testing.assert_allclose(cov, reference_cov, rtol=1e-10, atol=1e-12)
  ref = novelty.fit_reference(features, labels, 3)
  precision = np.linalg.inv(cov + novelty.RIDGE * np.trace(cov) / 6 * np.eye(6))
  probe = rng.normal(size=(20, 6)) * 3
  direct = np.min([np.einsum("nd,de,ne->n", probe - m, precision, probe - m) for m in means], axis=0)
  np.testing.assert_allclose(novelty.mahalanobis(probe, ref), direct, rtol=1e-3)
  far = features[:5] + 50.0
  assert novelty.mahalanobis(far, ref).min() > novelty.mahalanobis(features[:50], ref).max()


def test_knn_energy_and_max_prob_order_novelty():
  rng = np.random.default_rng(2)
  bank = rng.normal(size=(200, 4))
  ref = novelty.fit_reference(bank, np.zeros(200, int), 1)
  assert novelty.knn(bank[:10], ref).max() < novelty.knn(-np.abs(bank[:10]) * 0 + np.array([[0, 0, 0, 1e3]]),
                                                          ref).min() + 1.0
  confident, flat = np.array([[10.0, 0.0]]), np.array([[0.1, 0.0]])
  out = novelty.Outputs(np.r_[confident, flat], novelty.energy(np.r_[confident, flat]), np.zeros((2, 4)))
  scores = novelty.score("max_prob", out, 1.0, ref)
  assert scores[0] < scores[1]
  assert novelty.energy(confident)[0] == pytest.approx(-np.log(np.exp(10) + 1), rel=1e-6)


def test_threshold_keeps_the_asked_share():
  known = np.arange(1, 101, dtype=float)  # 1..100
  assert novelty.threshold(known, 0.95) == 95.0
  assert novelty.accepted(known, novelty.threshold(known, 0.95)) == 0.95
  assert novelty.threshold(known, 1.0) == 100.0
  assert novelty.accepted(np.array([94.0, 96.0, 200.0]), 95.0) == pytest.approx(1 / 3)
  with pytest.raises(ValueError):
    novelty.threshold(known, 0.0)
  assert novelty.auroc(known, known + 1000) == 1.0 and novelty.auroc(known, known) == 0.5


def test_dinucleotide_shuffle_keeps_every_dinucleotide_count():
  rng = np.random.default_rng(3)
  changed = 0
  for n in [3, 4, 7, 30, 120, 400] * 5:
    s = "".join(rng.choice(list("ACGT"), n, p=[0.4, 0.3, 0.2, 0.1]))
    t = decoys.dinucleotide_shuffle(s, rng)
    assert collections.Counter(zip(s, s[1:])) == collections.Counter(zip(t, t[1:]))
    assert len(t) == n and t[0] == s[0] and t[-1] == s[-1]
    changed += n >= 30 and t != s
  assert changed == 15
  # every arrangement is reachable: a 2-letter case has exactly these Eulerian paths
  seen_paths = {decoys.dinucleotide_shuffle("AABAB", rng) for _ in range(200)}
  assert seen_paths == {"AABAB", "ABAAB"}


def test_decoys_are_seeded_and_uniform_keeps_lengths():
  seqs = ["ACGTTGCA" * 5, "GGGAAACCCUUU".replace("U", "T")]
  assert decoys.make(seqs, "shuffled", 0) == decoys.make(seqs, "shuffled", 0)
  assert decoys.make(seqs, "shuffled", 0) != decoys.make(seqs, "shuffled", 1)
  uniform = decoys.make(seqs * 50, "uniform", 0)
  assert [len(u) for u in uniform] == [len(s) for s in seqs * 50]
  counts = collections.Counter("".join(uniform))
  assert set(counts) == set("ACGT") and min(counts.values()) / max(counts.values()) > 0.85


def _records():
  out = []
  for c, fams in (("tRNA", ["RF00005"]), ("miRNA", [f"RF{i:05d}" for i in range(100, 110)]),
                  ("CD-box", [f"RF{i:05d}" for i in range(200, 212)])):
    for f in fams:
      for k in range(3):
        out.append(Record(f"{f}_X{k}", c, "ACGT" * (k + 3) + "".join("ACGT"[int(d) % 4] for d in f[2:]), "f", 1))
  return out


def test_held_out_families_leave_every_split_and_keep_every_class():
  records = _records()
  kept, novel, summary = holdout.hold_out(records, 0.3, seed=0)
  fam = {r.id: holdout.family(r) for r in records}
  kept_fams = {fam[r.id] for r in kept}
  val_fams, test_fams = ({fam[r.id] for r in novel[n]} for n in ("val", "test"))
  assert not (kept_fams & val_fams) and not (kept_fams & test_fams) and not (val_fams & test_fams)
  assert len(kept) + len(novel["val"]) + len(novel["test"]) == len(records)
  assert {r.label for r in kept} == {"tRNA", "miRNA", "CD-box"}  # the single-family class is never held out
  assert "RF00005" in kept_fams
  assert len(val_fams | test_fams) == round(0.3 * 23) and summary["val"]["families"] == sorted(val_fams)
  again = holdout.hold_out(records, 0.3, seed=0)[2]
  assert again == summary and holdout.hold_out(records, 0.3, seed=1)[2] != summary
  assert holdout.family(Record("x1", "RF01234", "ACGT", "f", 1)) == "RF01234"
  with pytest.raises(ValueError, match="no Rfam accession"):
    holdout.hold_out([Record("seq1", "miRNA", "ACGT", "f.fa", 3)] * 3, 0.5, 0)


def test_held_out_families_reach_the_data_set(tmp_path):
  from rcl.data.dataset import load_dataset
  path = tmp_path / "r.fasta"
  path.write_text("".join(f">{r.id} {r.label}\n{r.sequence}\n" for r in _records()))
  data = load_dataset([str(path)], seed=0, holdout=0.3, max_len=64)
  novel_ids = set(data.novel["val"].ids) | set(data.novel["test"].ids)
  split_ids = {i for s in data.splits.values() for i in s.ids}
  assert novel_ids and not novel_ids & split_ids
  assert (data.novel["val"].labels == -1).all()
  novel_fams = {i.split("_")[0] for i in novel_ids}
  assert not novel_fams & {i.split("_")[0] for i in split_ids}


def test_seen_digests_find_exactly_the_stored_sequences():
  table = seen.table(["ACGT", "GGGG", "ACGT"])
  assert table.dtype == np.uint64 and len(table) == 2
  assert seen.contains(table, ["GGGG", "ACGA", "ACGT"]).tolist() == [True, False, True]


def test_tiny_run_calibrates_scores_novelty_and_exports_it(real_data, tmp_path):
  """A, E and LD(A)+LD(E) on a few hundred real records with 20% of families held out: the run's
  calibration and novelty results, the report sections, and a bundle that carries them to `rcl`."""
  from rcl import bundle, cli
  from rcl.experiment import export
  from rcl.config import DataConfig, ExperimentConfig, FitConfig, CollabConfig, AnalysisConfig
  from rcl.experiment.pipeline import run_experiment
  from rcl.models.monikers import Hyper
  records = read_fasta(os.path.join(real_data, "nrc", "dataset_Rfam_6320_13classes.fasta"))
  taken, lines = {}, []
  for r in records:
    if taken.get(r.label, 0) < 30 and len(r.sequence) <= 250:
      taken[r.label] = taken.get(r.label, 0) + 1
      lines.append(f">{r.id} {r.label}\n{r.sequence}\n")
  (tmp_path / "subset.fasta").write_text("".join(lines))
  config = ExperimentConfig(
      workdir=str(tmp_path / "run"), models=("A", "E"),
      data=DataConfig(files=(str(tmp_path / "subset.fasta"),), max_len=256, holdout_families=0.2),
      hyper=Hyper(cnn_filters=4, cnn_dense=(8, 8), rnn_hidden=4, rnn_dense=(8, 8, 8)),
      cnn=FitConfig(epochs=2, batch_size=32), rnn=FitConfig(epochs=1, batch_size=32),
      collab=CollabConfig(specs=("LD(A)+LD(E)",), fit=FitConfig(epochs=2, batch_size=32)),
      analysis=AnalysisConfig(cca_trials=0))
  results = run_experiment(config).studies
  for name in ("A", "E", "Ensemble(A+E)", "LD(A)+LD(E)"):
    cal = results["calibration"]["models"][name]
    if "top_bins" not in cal:  # T alone minimises the validation NLL
      assert cal["val"]["after"]["nll"] <= cal["val"]["before"]["nll"] + 1e-9
    nov = results["novelty"]["models"][name]
    assert nov["chosen"] == min(novelty.SCORES, key=lambda s: (nov["scores"][s]["val_mean_false_acceptance"],
                                                               -nov["scores"][s]["val_mean_auroc"]))
    energy = nov["scores"]["energy"]
    assert energy["val_mean_false_acceptance"] == pytest.approx(
        np.mean([v["false_acceptance"] for v in energy["val"].values()]))
    assert set(nov["scores"][nov["chosen"]]["test"]) == {"shuffled", "uniform", "families"}
  assert results["novelty"]["sets"]["test"]["families"] == results["novelty"]["holdout"]["test"]["records"] > 0
  report = (tmp_path / "run" / "report.md").read_text()
  assert "## Calibration: temperature scaling" in report and "## Novelty" in report
  assert (tmp_path / "run" / "figures" / "reliability.png").exists()

  out = tmp_path / "bundle"
  meta = export.export(config.workdir, "LD(A)+LD(E)", str(out))
  cal, nov = results["calibration"]["models"]["LD(A)+LD(E)"], results["novelty"]["models"]["LD(A)+LD(E)"]
  assert meta["calibration"]["temperature"] == cal["temperature"]
  assert meta["novelty"]["score"] == nov["chosen"]
  assert meta["novelty"]["threshold"] == nov["scores"][nov["chosen"]]["threshold"]
  loaded = bundle.load(str(out))
  assert loaded.temperature == cal["temperature"] and loaded.seen is not None
  assert loaded.calibrator == calibration.Calibrator.from_dict(cal)
  # the bundle's scores on the validation split put exactly the share --keep at or under its threshold
  from rcl.data.dataset import load_dataset
  data = load_dataset(config.data.files, seed=0, max_len=256, holdout=0.2)
  outputs = loaded.outputs(data.splits["val"])
  probs, scores = loaded.calibrated(outputs)
  np.testing.assert_allclose(probs, loaded.calibrator.probabilities(outputs.logits), rtol=1e-5, atol=1e-7)
  assert novelty.accepted(scores, loaded.novelty_rule[1]) == pytest.approx(
      np.ceil(0.95 * len(scores)) / len(scores), abs=1.5 / len(scores))
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
  # evaluate counts the training records it is given, and reports the unseen ones apart
  train_fasta = tmp_path / "train.fasta"
  train_fasta.write_text("".join(f">{i} {data.classes[l]}\n{s}\n" for i, s, l in zip(
      data.splits["train"].ids[:20], data.splits["train"].sequences[:20], data.splits["train"].labels[:20])) +
      "".join(f">{i} {data.classes[l]}\n{s}\n" for i, s, l in zip(
          data.splits["test"].ids[:10], data.splits["test"].sequences[:10], data.splits["test"].labels[:10])))
  novel_fasta = tmp_path / "novel.fasta"
  novel_fasta.write_text("".join(f">{i}\n{s}\n" for i, s in zip(data.novel["test"].ids, data.novel["test"].sequences)))
  cli.main(["evaluate", f"--model={out}", f"--input={train_fasta}", f"--out={tmp_path / 'ev'}",
            f"--novel={novel_fasta}"])
  metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
  assert metrics["seen"] == 20 and metrics["records"] == 30
  assert "accuracy" in metrics["unseen_metrics"]
  assert metrics["novel"]["records"] == len(data.novel["test"]) and 0 <= metrics["novel"]["auroc"] <= 1
  header, *rows = (tmp_path / "ev" / "predictions.tsv").read_text().splitlines()
  assert header.split("\t")[-3:] == ["true", "correct", "seen"]
  assert [r.split("\t")[-1] for r in rows] == ["1"] * 20 + ["0"] * 10
  assert all(r.split("\t")[-2] == str(int(r.split("\t")[3] == r.split("\t")[-3])) for r in rows)


def test_background_head_learns_what_decoys_look_like():
  rng = np.random.default_rng(4)
  known, decoy = rng.normal(size=(400, 5)), rng.normal(size=(400, 5)) + np.array([0, 0, 3, 0, 0])
  ref = novelty.fit_reference(known, np.zeros(400, int), 1, decoys=decoy)
  fresh_known, fresh_decoy = rng.normal(size=(200, 5)), rng.normal(size=(200, 5)) + np.array([0, 0, 3, 0, 0])
  out = lambda f: novelty.Outputs(np.zeros((len(f), 2)), np.zeros(len(f)), f)  # noqa: E731
  auroc = novelty.auroc(novelty.score("background", out(fresh_known), 1.0, ref),
                        novelty.score("background", out(fresh_decoy), 1.0, ref))
  assert auroc > 0.95
  stored = novelty.Reference.from_arrays(ref.arrays())
  np.testing.assert_array_equal(stored.background, ref.background)
