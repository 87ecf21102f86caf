"""The installed `rcl` command with the pretrained bundle shipped in the package."""

import gzip
import json
import os
import subprocess
import sys

import numpy as np

from rcl import bundle
from rcl.cli import shipped

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rcl(*args, stdin=None, cwd=None):
  return subprocess.run([sys.executable, "-m", "rcl.cli", *args], input=stdin, capture_output=True,
                        cwd=cwd, env=dict(os.environ, PYTHONPATH=REPO), timeout=300)


def test_the_shipped_bundle_is_small_verified_and_described():
  (directory,) = shipped()
  total = sum(os.path.getsize(os.path.join(r, n)) for r, _, names in os.walk(directory) for n in names)
  assert total < 5 * 2 ** 20
  meta = bundle.load(directory).meta  # checks every file's sha256
  assert meta["model"] == "LD(A)+LD(E)" and len(meta["classes"]) == 13
  assert meta["provenance"]["command"].endswith("--flagfile=experiments/test13_small.flags")
  proc = _rcl("models")
  assert proc.returncode == 0 and json.loads(proc.stdout)["model"] == "LD(A)+LD(E)"


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
  assert len(lines) == 5 and all(len(line.split("\t")) == 6 for line in lines)  # header + 4 whole rows
