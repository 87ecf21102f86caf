"""`rcl evaluate --boundary_noise`: the shipped bundle scored on flanked copies of a few labelled records."""

import io
import json
import os
import subprocess
import sys

import pytest

from rcl import bundle
from rcl.bundle_evaluation import boundary_noise, labelled_metrics, report
from rcl.cli.model_lookup import resolve_model
from rcl.data import flanks
from rcl.data.fasta import iter_records, read_fasta

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def model():
  return bundle.load(resolve_model(None))


@pytest.fixture
def labelled(real_data, tmp_path):
  """40 labelled nRC records, every class present, as a FASTA file."""
  records = read_fasta(os.path.join(real_data, "nrc", "dataset_Rfam_validated_2600_13classes.fasta"))[::65]
  path = tmp_path / "l.fa"
  path.write_text("".join(f">{r.id} {r.label}\n{r.sequence}\n" for r in records))
  return str(path)


def test_level_zero_is_plain_evaluation_and_other_levels_flank_every_record(model, labelled, monkeypatch):
  plain = labelled_metrics.evaluate(model, iter_records(labelled), chunk_size=16)
  seen = []  # the sequences evaluate() is given, per level
  real = labelled_metrics.evaluate

  def spy(bundle_, records, **kw):
    def follow(rs):
      for r in rs:
        seen[-1].append(r.sequence)
        yield r
    seen.append([])
    return real(bundle_, follow(records), **kw)

  monkeypatch.setattr(labelled_metrics, "evaluate", spy)
  predictions = io.StringIO()
  results, noise = boundary_noise.evaluate_boundary_noise(model, lambda: iter_records(labelled), [200, 0],
                                                          kind="uniform", seed=3, chunk_size=16,
                                                          predictions=predictions)
  clean = [r.sequence for r in iter_records(labelled)]
  assert seen[1] == clean and results[1]["metrics"] == plain["metrics"] and "boundary_noise" not in results[1]
  rng = flanks.level_rng(3, 200)  # the protocol: one stream per level, records in file order
  assert seen[0] == [flanks.flank_sequence(s, 200, rng, "uniform") for s in clean]
  for s, f in zip(clean, seen[0]):
    side = flanks.per_side(len(s), 200, "uniform")
    assert len(f) == len(s) + 2 * side and f[side:side + len(s)] == s
  assert results[0]["boundary_noise"] == {"percent": 200, "kind": "uniform", "seed": 3}
  assert noise["levels"] == [200, 0] and noise["records"] == 40 and noise["kind"] == "uniform"
  assert noise["accuracy"] == [results[0]["metrics"]["accuracy"], plain["metrics"]["accuracy"]]
  assert noise["accuracy"][0] < noise["accuracy"][1]
  # predictions.tsv holds the clean level (the reference), whatever the order of the levels
  lengths = [int(line.split("\t")[1]) for line in predictions.getvalue().splitlines()[1:]]
  assert lengths == [len(s) for s in clean]
  assert "with 200% uniform flanks (seed 3)" in report.summary(results[0])


def test_levels_are_checked(model, labelled):
  for levels, problem in (([0, -1], "got -1"), ([], "no boundary noise levels"), ([float("nan")], "got nan")):
    with pytest.raises(ValueError, match=problem):
      boundary_noise.evaluate_boundary_noise(model, lambda: iter_records(labelled), levels)
  with pytest.raises(ValueError, match="kind must be one of"):
    boundary_noise.evaluate_boundary_noise(model, lambda: iter_records(labelled), [0], kind="mixed")


def _rcl(*args, cwd):
  return subprocess.run([sys.executable, "-m", "rcl.cli", *args], capture_output=True, text=True, cwd=cwd,
                        env=dict(os.environ, PYTHONPATH=REPO), timeout=300)


def test_the_command_prints_a_table_and_writes_json_and_a_figure(labelled, tmp_path):
  proc = _rcl("evaluate", f"--input={labelled}", "--model=test13_small", "--boundary_noise=0,100", "--chunk=16",
              "--noise_seed=1", "--out=ev", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = tmp_path / "ev"
  noise = json.loads((out / "boundary_noise.json").read_text())
  assert {k: noise[k] for k in ("kind", "seed", "levels", "records")} == {
      "kind": "dinucleotide", "seed": 1, "levels": [0, 100], "records": 40}
  metrics = json.loads((out / "metrics.json").read_text())["metrics"]
  assert noise["accuracy"][0] == metrics["accuracy"] and noise["f1_macro"][0] == metrics["f1_macro"]
  assert len(noise["f1_weighted"]) == 2
  assert (out / "boundary_noise.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert f"100       {noise['accuracy'][1]:.4f}    {noise['f1_macro'][1]:.4f}" in proc.stdout
  assert "boundary noise 100%: classified 40 records" in proc.stderr


def test_a_negative_level_or_standard_input_is_one_error_line(labelled, tmp_path):
  proc = _rcl("evaluate", f"--input={labelled}", "--boundary_noise=0,-50", cwd=tmp_path)
  assert proc.returncode == 1
  assert proc.stderr == "error: boundary noise levels must be percentages >= 0, got -50\n"
  proc = _rcl("evaluate", "--input=-", "--boundary_noise=0,100", cwd=tmp_path)  # read once per level
  assert proc.returncode == 1 and proc.stderr.startswith("error: --boundary_noise reads the input once per level")
  assert proc.stderr.count("\n") == 1
