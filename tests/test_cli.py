"""The installed `rcl` command with the pretrained bundle shipped in the package."""

import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rcl import bundle
from rcl.cli.model_lookup import resolve_model, shipped
from rcl.data.fetch import sha256
from rcl.experiment import export
from rcl.results import ModelResult, RunResults, Scores

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rcl(*args, stdin=None, cwd=None):
  return subprocess.run([sys.executable, "-m", "rcl.cli", *args], input=stdin, capture_output=True,
                        cwd=cwd, env=dict(os.environ, PYTHONPATH=REPO), timeout=300)


def test_the_shipped_bundle_is_small_verified_and_described():
  directory = resolve_model(None)  # the default, whatever else is shipped
  assert os.path.basename(directory) == "test13_small" and shipped()[0] == directory
  assert {os.path.basename(d) for d in shipped()} == {"test13_small", "rfam88"}
  total = sum(os.path.getsize(os.path.join(r, n)) for d in shipped() for r, _, names in os.walk(d) for n in names)
  assert total < 5 * 2 ** 20  # both together
  for name, classes, flagfile in (("test13_small", 13, "test13_small"), ("rfam88", 88, "rfam88")):
    meta = bundle.load(resolve_model(name)).meta  # checks every file's sha256
    assert len(meta["classes"]) == classes
    # Its profile's command; where it ran only a --workdir may have been added (it does not change the model)
    args = [a for a in shlex.split(meta["provenance"]["command"]) if not a.startswith("--workdir=")]
    assert args == ["python", "-m", "experiments.run", f"--flagfile=experiments/{flagfile}.flags"]
    if name == "test13_small":
      assert meta["model"] == "LD(A)+LD(E)"  # not yet retrained on the flank-robust recipe (BUILD.md)
      continue
    # Chosen on validation alone, averaged over clean and flanked copies; its held-out noise figures.
    chosen = meta["provenance"]["chosen_by"]
    assert "boundary noise" in chosen["rule"]
    noise = meta["provenance"]["boundary_noise"]
    assert chosen["score"] == pytest.approx(np.mean(noise["val"]["accuracy"]))
    assert {0.0, 100.0, 200.0} <= set(noise["levels"]) and noise["test"]["accuracy"][0] == meta["provenance"][
        "test_accuracy"]
  proc = _rcl("models", "test13_small")
  described = json.loads(proc.stdout)
  assert proc.returncode == 0 and len(described["classes"]) == 13 and described["class_names"] is None
  assert described["temperature"] > 0 and described["novelty"]["keep"] == 0.95
  assert described["novelty"]["score"] in described["novelty"]["validation"]


def test_random_sequences_are_more_often_unclassified_than_real_ones(real_data, tmp_path):
  """The shipped model's call column: uniform random sequences at nRC lengths fall above its novelty
  threshold far more often than real records of its classes (BUILD.md, "Calibration and novelty")."""
  from rcl.data.fasta import read_fasta  # noqa: PLC0415
  real = read_fasta(os.path.join(real_data, "nrc", "dataset_Rfam_validated_2600_13classes.fasta"))[::26]
  rng = np.random.default_rng(0)
  fake = ["".join(rng.choice(list("ACGU"), len(r.sequence))) for r in real]
  (tmp_path / "in.fa").write_text("".join(f">real{i}\n{r.sequence}\n" for i, r in enumerate(real)) +
                                  "".join(f">fake{i}\n{s}\n" for i, s in enumerate(fake)))
  proc = _rcl("classify", "--input=in.fa", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr.decode()[-2000:]
  rows = [line.split("\t") for line in proc.stdout.decode().splitlines()[1:]]
  unclassified = {kind: np.mean([r[2] == "unclassified" for r in rows if r[0].startswith(kind)])
                  for kind in ("real", "fake")}
  assert unclassified["real"] < 0.1 and unclassified["fake"] > unclassified["real"] + 0.2
  assert all(r[2] in ("unclassified", r[3]) and float(r[6]) == float(r[6]) for r in rows)


def test_classify_with_the_shipped_model_from_gzip_stdin_in_jsonl(tmp_path):
  rng = np.random.default_rng(0)
  seqs = ["".join(rng.choice(list("ACGU"), n)) for n in (20, 80, 600)] + ["ACGUNACGUACGUAGCUAGCUAGCAUCGAUCGAUCGAUCG"]
  text = "".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs))
  proc = _rcl("classify", "--input=-", "--format=jsonl", "--chunk=3", stdin=gzip.compress(text.encode()),
              cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr.decode()[-2000:]
  rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
  assert [r["id"] for r in rows] == ["s0", "s1", "s2", "s3"]
  for r in rows:
    probs = [p for _, p in r["top"]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6 and len(probs) == 3
  assert rows[0]["flags"] == ["short"] and rows[2]["flags"] == ["cut"] and rows[3]["flags"] == ["ambiguous"]
  assert all(r["predicted"] == r["top"][0][0] and 0 < r["probability"] <= 1 for r in rows)
  assert b"classified 4 records" in proc.stderr


def test_a_parsing_error_keeps_the_rows_already_written(tmp_path):
  good = "".join(f">g{i}\nACGUACGUACGUACGUACGUACGUACGUACGUACGUACGUACGU\n" for i in range(4))
  (tmp_path / "in.fa").write_text(good + ">bad\nAC9U\n")
  proc = _rcl("classify", "--input=in.fa", "--output=out.tsv", "--chunk=2", cwd=tmp_path)
  assert proc.returncode == 1 and b"in.fa:10 (record 'bad'): not a nucleotide letter: '9'" in proc.stderr
  lines = (tmp_path / "out.tsv").read_text().splitlines()
  assert len(lines) == 5 and all(len(line.split("\t")) == 9 for line in lines)  # header + 4 whole rows


def test_evaluate_scores_labelled_records_and_writes_tables(tmp_path, real_data):
  from rcl.data.fasta import read_fasta
  records = read_fasta(os.path.join(real_data, "nrc", "dataset_Rfam_validated_2600_13classes.fasta"))[::40]
  (tmp_path / "l.fa").write_text("".join(f">{r.id} {r.label}\n{r.sequence}\n" for r in records))
  proc = _rcl("evaluate", "--input=l.fa", "--out=ev", "--chunk=16", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr.decode()[-2000:]
  out = tmp_path / "ev"
  predicted = [line.split("\t")[3] for line in (out / "predictions.tsv").read_text().splitlines()[1:]]
  truth = [r.label for r in records]
  accuracy = np.mean([p == t for p, t in zip(predicted, truth)])
  result = json.loads((out / "metrics.json").read_text())
  assert result["records"] == len(records) == len(predicted) == 65
  assert abs(result["metrics"]["accuracy"] - accuracy) < 1e-12 and accuracy > 0.8
  assert abs(result["metrics"]["recall_weighted"] - accuracy) < 1e-12  # weighted recall is accuracy
  assert f"accuracy   {accuracy:.4f}" in proc.stdout.decode()
  matrix = [line.split("\t") for line in (out / "confusion.tsv").read_text().splitlines()]
  classes = matrix[0][1:]
  counts = np.array([[int(v) for v in row[1:]] for row in matrix[1:]])
  assert len(classes) == 13 and counts.sum() == 65 and np.trace(counts) == sum(p == t for p, t in zip(predicted, truth))
  for i, c in enumerate(classes):
    assert counts[i].sum() == truth.count(c) and counts[:, i].sum() == predicted.count(c)
  per_class = [line.split("\t") for line in (out / "per_class.tsv").read_text().splitlines()]
  assert per_class[0] == ["class", "precision", "recall", "f1", "specificity", "support"]
  assert {row[0]: int(row[5]) for row in per_class[1:]} == {c: truth.count(c) for c in classes}
  assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_refuses_a_label_the_model_does_not_know(tmp_path):
  (tmp_path / "l.fa").write_text(">a tRNA\nACGUACGUAGCUAGCUAGCAUCG\n>b snoRNA\nACGAUCGAUCGAUCGAUCGAUCG\n")
  proc = _rcl("evaluate", "--input=l.fa", cwd=tmp_path)
  err = proc.stderr.decode()
  assert proc.returncode == 1 and "Traceback" not in err
  assert "l.fa:3 (record 'b'): class 'snoRNA' is not one this model knows; its 13 classes are: 5S_rRNA," in err
  assert "tRNA" in err.splitlines()[-1]


def test_model_by_shipped_name_and_an_unknown_name(tmp_path):
  (tmp_path / "in.fa").write_text(">a\nACGUACGUAGCUAGCUAGCAUCGAUCGAUCGAUCGAUCG\n")
  proc = _rcl("classify", "--input=in.fa", "--model=test13_small", "--format=jsonl", cwd=tmp_path)
  assert proc.returncode == 0 and json.loads(proc.stdout)["id"] == "a", proc.stderr.decode()[-2000:]
  proc = _rcl("classify", "--input=in.fa", "--model=no_such_model", cwd=tmp_path)
  assert proc.returncode == 1 and proc.stderr.decode() == (
      "error: no bundle directory 'no_such_model', nor a shipped bundle of that name (shipped: "
      f"{', '.join(os.path.basename(d) for d in shipped())})\n")


def test_class_names_of_a_bundle_fill_the_name_column(tmp_path, real_data):
  """A bundle with family names (`rcl export --class_names`). Exporting needs a trained workdir, so the shipped
  bundle is copied and given names by hand: bundle.json gains 'class_names' and the manifest its new sha256
  (`bundle.load` checks it)."""
  named = tmp_path / "named"
  shutil.copytree(resolve_model("test13_small"), named)
  meta = json.loads((named / "bundle.json").read_text())
  names = {"5S_rRNA": "5S ribosomal RNA", "tRNA": "transfer RNA"}
  (named / "bundle.json").write_text(json.dumps({**meta, "class_names": names}, indent=1))
  manifest = json.loads((named / "manifest.json").read_text())
  (named / "manifest.json").write_text(json.dumps({**manifest, "bundle.json": sha256(str(named / "bundle.json"))}))
  from rcl.data.fasta import read_fasta  # noqa: PLC0415
  records = read_fasta(os.path.join(real_data, "nrc", "dataset_Rfam_validated_2600_13classes.fasta"))[::200]
  (tmp_path / "in.fa").write_text("".join(f">{r.id}\n{r.sequence}\n" for r in records))
  proc = _rcl("classify", "--input=in.fa", f"--model={named}", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr.decode()[-2000:]
  lines = [line.split("\t") for line in proc.stdout.decode().splitlines()]
  assert lines[0] == ["id", "length", "call", "predicted", "name", "probability", "novelty", "top", "flags"]
  assert [row[4] for row in lines[1:]] == [names.get(row[3], "") for row in lines[1:]]
  assert {row[4] for row in lines[1:]} >= {"", "5S ribosomal RNA", "transfer RNA"}
  proc = _rcl("models", str(named))
  assert proc.returncode == 0 and json.loads(proc.stdout)["class_names"] == names


def _workdir(tmp_path, data_file: str):
  """An experiment directory that export reads up to the class names (no checkpoints)."""
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "config.json").write_text(json.dumps({"command": "", "data": {"train_files": [data_file]}}))
  (workdir / "vocabulary.json").write_text(json.dumps({"classes": ["RF00001", "RF00005"]}))
  entry = ModelResult("CNN", Scores({"accuracy": 0.5}, {"accuracy": 0.5, "f1_macro": 0.5}, {}, {}, {}))
  (workdir / "results.json").write_text(json.dumps(RunResults("Test88", 0, {}, {}, models={"A": entry}).to_json()))
  (workdir / "data_summary.json").write_text("{}")
  return str(workdir)


def test_export_checks_the_class_names_file(tmp_path):
  data = tmp_path / "rfam-novel"
  data.mkdir()
  workdir = _workdir(tmp_path, str(data / "train.fasta"))
  out = str(tmp_path / "bundle")
  for text, problem in (('["5S_rRNA"]', "is not a JSON object of class -> name"),
                        ('{"RF00001": 5}', "is not a JSON object of class -> name"),
                        ('{"RF00001": "a\\tb"}', "is not a JSON object of class -> name"),
                        ("{RF00001", "is not JSON"),
                        ('{"RF99999": "other"}', "names none of the model's 2 classes")):
    (tmp_path / "names.json").write_text(text)
    with pytest.raises(bundle.BundleError, match="^" + re.escape(f"{tmp_path / 'names.json'} {problem}")):
      export.export(workdir, "A", out, class_names=str(tmp_path / "names.json"))
  assert not os.path.exists(out)  # refused before anything is written
  # Without --class_names, an rfam.json beside the data files is read (this one is refused, naming it).
  (data / "rfam.json").write_text("[1]")
  with pytest.raises(bundle.BundleError, match="^" + re.escape(f"{data / 'rfam.json'} is not a JSON object")):
    export.export(workdir, "A", out)


def test_progress_shows_an_eta_for_a_file(tmp_path):
  (tmp_path / "in.fa").write_text("".join(f">g{i}\nACGUACGUACGUACGUACGUACGUACGUACGUACGU\n" for i in range(6)))
  proc = _rcl("classify", "--input=in.fa", "--output=out.tsv", "--chunk=2", "--workers=1", cwd=tmp_path)
  lines = [line for line in proc.stderr.decode().splitlines() if line.startswith("classified")]
  assert proc.returncode == 0 and len(lines) == 3
  assert lines[0].startswith("classified 2 records,") and "records/s, ETA " in lines[0]
  assert lines[-1].startswith("classified 6 records,") and lines[-1].endswith("ETA 0s")


@pytest.mark.parametrize("name, files", [
    ("test13_small", ("nrc/dataset_Rfam_6320_13classes.fasta", "nrc/dataset_Rfam_validated_2600_13classes.fasta")),
    ("rfam88", ("rfam-novel/x_val.fasta",))])
def test_the_shipped_model_reproduces_its_recorded_val_and_test_accuracy(real_data, name, files):
  """A shipped bundle, applied to its profile's validation and test splits (rebuilt from the data files by
  the package's own merge / de-duplicate / seeded split), scores exactly what its provenance says the
  training run measured."""
  from rcl.data.dataset import load_dataset
  loaded = bundle.load(resolve_model(name))
  meta = loaded.meta
  data = load_dataset([os.path.join(real_data, f) for f in files], seed=0, max_len=meta["max_len"])
  assert data.classes == meta["classes"] and data.summary["train"]["records"] == meta["provenance"]["train_records"]
  for name in ("val", "test"):
    split = data.splits[name]
    accuracy = np.mean(loaded.predict(split).argmax(1) == split.labels)
    assert accuracy == meta["provenance"][f"{name}_accuracy"], name
  # Its novelty rule calls the share of known test records the run recorded (within a record: the bundle's
  # CNNs read through narrower windows, ~1e-7 apart), and it knows which records it learnt from.
  probs, scores = loaded.calibrated(loaded.outputs(data.splits["test"]))
  assert loaded.temperature == meta["calibration"]["temperature"] != 1.0
  assert np.mean(scores <= loaded.novelty_rule[1]) == pytest.approx(meta["novelty"]["test"]["known_called"],
                                                                    abs=1.01 / len(scores))
  assert (probs.argmax(1) == data.splits["test"].labels).mean() == meta["provenance"]["test_accuracy"]
  from rcl.data import seen  # noqa: PLC0415
  assert seen.contains(loaded.seen, data.splits["val"].sequences[:50]).all()
  assert not seen.contains(loaded.seen, [s for s in data.splits["test"].sequences[:50]
                                         if s not in set(data.splits["train"].sequences)]).any()


def test_the_command_restarts_once_with_huge_pages_for_malloc(tmp_path):
  """`rcl.allocator`: the process is replaced by the same command line, with GLIBC_TUNABLES asking for huge
  pages and keeping the tunables already given; a process that has it already goes on (no loop)."""
  import platform  # noqa: PLC0415
  if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
    return
  code = ("import os, sys; print('start', flush=True); from rcl import allocator; "
          "allocator.restart_with_huge_pages(); print(os.environ['GLIBC_TUNABLES'], sys.argv[1:], sys.flags.optimize)")

  def run(tunables):
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    env.update(PYTHONPATH=REPO, **({"GLIBC_TUNABLES": tunables} if tunables else {}))
    return subprocess.run([sys.executable, "-O", "-c", code, "x", "y"], capture_output=True, text=True, env=env,
                          timeout=60).stdout

  # Restarted once (two 'start' lines), with the interpreter option (-O) and the arguments kept.
  assert run(None) == "start\nstart\nglibc.malloc.hugetlb=1 ['x', 'y'] 1\n"
  assert run("glibc.malloc.arena_max=2") == ("start\nstart\nglibc.malloc.arena_max=2:glibc.malloc.hugetlb=1 "
                                             "['x', 'y'] 1\n")
  assert run("glibc.malloc.hugetlb=0") == "start\nglibc.malloc.hugetlb=0 ['x', 'y'] 1\n"
  # The environment of processes to start (tests/conftest.py asks for it so that they do not restart).
  from rcl import allocator  # noqa: PLC0415
  env = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
  assert allocator.ask(env) and env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
  assert not allocator.ask(env) and env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"


def test_export_warns_when_the_run_measured_no_trust():
  from rcl.cli.bundle_commands import untrusted  # noqa: PLC0415
  assert untrusted({"model": "A", "calibration": {}, "novelty": {}}, "runs/x") is None
  warning = untrusted({"model": "A"}, "runs/x")
  assert warning.startswith("warning: runs/x measured no calibration or novelty for A")
  assert warning.endswith("the bundle has no calibrated probabilities and no 'unclassified' call")
  assert untrusted({"model": "A", "calibration": {}}, "runs/x").endswith("the bundle has no 'unclassified' call")
