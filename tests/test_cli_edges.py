"""The `rcl` command's rough edges: output paths checked before the model loads, no output left by a run that
wrote no record, duplicate IDs named, --help and --version; and a training set of one class refused."""

from __future__ import annotations

import importlib.metadata
import json
import os

import numpy as np
import pytest

from rcl.cli import main
from rcl.data.dataset import load_dataset

SEQ = "ACGUACGUAGCUAGCUAGCAUCGAUCGAUCGAUCGAUCG"


def _error(argv: list[str]) -> str:
  """The exit message of a refused `rcl` command."""
  with pytest.raises(SystemExit) as e:
    main(argv)
  return e.value.code


def _files(root) -> list[str]:
  return sorted(os.path.relpath(os.path.join(r, n), root) for r, dirs, names in os.walk(root) for n in names + dirs)


@pytest.fixture
def here(tmp_path, monkeypatch):
  """tmp_path as the working directory, holding a labelled two-record in.fa, a file and a directory."""
  monkeypatch.chdir(tmp_path)
  (tmp_path / "in.fa").write_text(f">a tRNA\n{SEQ}\n>b 5S_rRNA\n{SEQ[::-1]}\n")
  (tmp_path / "afile").write_text("keep")
  (tmp_path / "adir").mkdir()
  return tmp_path


def test_evaluate_refuses_an_out_directory_that_is_not_empty_unless_forced(here, capsys):
  (here / "ev").mkdir()
  (here / "ev" / "predictions.tsv").write_text("old\n")
  # Refused before the model loads: the unknown model is never looked up.
  assert _error(["evaluate", "--input=in.fa", "--out=ev", "--model=no_such_model"]) == (
      "error: --out=ev exists and is not empty: name a new directory or add --force")
  assert _error(["evaluate", "--input=in.fa", "--out=adir", "--model=no_such_model"]).startswith(
      "error: no bundle directory 'no_such_model'")  # an empty directory is taken
  assert (here / "ev" / "predictions.tsv").read_text() == "old\n"
  assert _error(["evaluate", "--input=in.fa", "--force"]) == "error: --force applies to --out only"
  main(["evaluate", "--input=in.fa", "--out=ev", "--force"])
  rows = (here / "ev" / "predictions.tsv").read_text().splitlines()
  assert [row.split("\t")[0] for row in rows[1:]] == ["a", "b"]
  assert json.loads((here / "ev" / "metrics.json").read_text())["records"] == 2
  assert "to ev" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["classify", "--output=no/such/dir/x.tsv"], "--output=no/such/dir/x.tsv: directory no/such/dir does not exist"),
    (["classify", "--output=adir"], "--output=adir: is a directory, not a file"),
    (["classify", "--output=afile/x.tsv"], "--output=afile/x.tsv: afile is not a directory"),
    (["evaluate", "--out=afile"], "--out=afile: is a file, not a directory"),
    (["evaluate", "--out=afile/sub"], "--out=afile/sub: afile is not a directory"),
])
def test_an_output_path_problem_is_one_line_before_the_model_loads(here, argv, message):
  before = _files(here)
  assert _error([*argv, "--input=in.fa", "--model=no_such_model"]) == "error: " + message
  assert _files(here) == before and (here / "afile").read_text() == "keep"


def test_an_unwritable_output_is_permission_denied(here, monkeypatch):
  (here / "locked").mkdir()
  (here / "locked" / "x.tsv").write_text("")
  os.chmod(here / "locked", 0o555)
  os.chmod(here / "locked" / "x.tsv", 0o444)
  real = os.access
  # root may write anyway; the check then still follows the permission bits, as for any other user
  monkeypatch.setattr(os, "access", lambda path, mode: real(path, mode) and not (
      mode & os.W_OK and not os.stat(path).st_mode & 0o200))
  try:
    for argv, option in ((["classify", "--output=locked/new.tsv"], "--output=locked/new.tsv"),
                         (["classify", "--output=locked/x.tsv"], "--output=locked/x.tsv"),
                         (["evaluate", "--out=locked/ev"], "--out=locked/ev"),
                         (["evaluate", "--out=locked"], "--out=locked")):
      assert _error([*argv, "--input=in.fa", "--model=no_such_model"]) == f"error: {option}: permission denied"
    assert _files(here / "locked") == ["x.tsv"]
  finally:
    os.chmod(here / "locked", 0o755)


def test_a_run_that_fails_before_its_first_record_leaves_no_output(here):
  (here / "bad.fa").write_text(f">a\nAC9U\n>b\n{SEQ}\n")
  (here / "empty.fa").write_text("\n")
  (here / "out.tsv").write_text("an older file, replaced\n")
  assert _error(["classify", "--input=bad.fa", "--output=out.tsv"]) == (
      "error: bad.fa:2 (record 'a'): not a nucleotide letter: '9'")
  assert not (here / "out.tsv").exists()
  for fmt in ("tsv", "jsonl"):
    assert _error(["classify", "--input=empty.fa", "--output=out.tsv", f"--format={fmt}"]) == (
        "error: --input=empty.fa holds no FASTA records")
    assert not (here / "out.tsv").exists()
  # evaluate: the directories it made go too; a directory that was there stays, emptied of predictions.tsv.
  assert _error(["evaluate", "--input=empty.fa", "--out=ev/sub"]) == "error: --input=empty.fa holds no FASTA records"
  assert not (here / "ev").exists()
  (here / "in.fa").write_text(f">a tRNA\n{SEQ}\n>b snoRNA\n{SEQ}\n")
  assert "class 'snoRNA' is not one this model knows" in _error(["evaluate", "--input=in.fa", "--out=adir"])
  assert _files(here / "adir") == []
  assert sorted(os.listdir(here)) == ["adir", "afile", "bad.fa", "empty.fa", "in.fa"]


def test_duplicate_record_ids_are_named_in_a_warning(here, capsys):
  ids = ["a", "b", "a", "c", "b", "a", "c"]
  (here / "dup.fa").write_text("".join(f">{i}\n{SEQ}\n" for i in ids))
  main(["classify", "--input=dup.fa", "--output=out.tsv"])
  assert "warning: 3 duplicate record IDs in dup.fa: a, b, c\n" in capsys.readouterr().err
  assert [row.split("\t")[0] for row in (here / "out.tsv").read_text().splitlines()[1:]] == ids  # all kept
  (here / "dup.fa").write_text("".join(f">r{i % 7} tRNA\n{SEQ}\n" for i in range(14)) + f">r0 tRNA\n{SEQ}\n")
  main(["evaluate", "--input=dup.fa"])
  assert "warning: 7 duplicate record IDs in dup.fa: r0, r1, r2, r3, r4, ... (2 more)\n" in capsys.readouterr().err
  main(["classify", "--input=in.fa", "--output=out.tsv"])
  assert "warning" not in capsys.readouterr().err


def test_help_shows_defaults_and_an_example_and_version_the_package(capsys, monkeypatch):
  monkeypatch.setenv("COLUMNS", "200")
  for argv, shown in ((["--help"], ["examples:\n  rcl classify --input=seqs.fasta", "  rcl data fetch nrc"]),
                      (["classify", "--help"], ["ranked classes per record (default: 3)", "(default: tsv)",
                                                "output file (default: standard output)\n", "\nexample: rcl "
                                                "classify --input=seqs.fasta --model=rfam88 --output=calls.tsv\n"]),
                      (["evaluate", "--help"], ["(default: 4096)", "(default: False)", "example: rcl evaluate "]),
                      (["export", "--help"], ["example: rcl export --workdir=runs/x"]),
                      (["models", "--help"], ["example: rcl models "]),
                      (["data", "--help"], ["example: rcl data fetch nrc"]),
                      (["data", "fetch", "--help"], ["which data sets (default: all)", "example: rcl data fetch"])):
    assert _error(argv) == 0
    out = capsys.readouterr().out
    assert all(s in out for s in shown), (argv, out)
    assert "(default: None)" not in out
  assert _error(["--version"]) == 0
  assert capsys.readouterr().out == f"rcl {importlib.metadata.version('rcl')}\n"

  def missing(name):
    raise importlib.metadata.PackageNotFoundError(name)
  monkeypatch.setattr(importlib.metadata, "version", missing)
  assert _error(["--version"]) == 0 and capsys.readouterr().out == "rcl unknown\n"


def test_a_training_set_of_one_class_is_refused(write_fasta):
  rng = np.random.default_rng(0)
  one = write_fasta("one.fa", "".join(f">r{i} tRNA\n{''.join(rng.choice(list('ACGU'), 30))}\n" for i in range(20)))
  message = "the training data holds one class only ('tRNA'): a classifier needs at least two"
  with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
    load_dataset([one], max_len=32)
  # Given splits: the test file's other class does not count.
  test = write_fasta("test.fa", f">t1 tRNA\n{SEQ}\n>t2 rRNA\n{SEQ[::-1]}\n")
  with pytest.raises(ValueError, match="one class only"):
    load_dataset(train_files=[one], test_files=[test], max_len=32)
