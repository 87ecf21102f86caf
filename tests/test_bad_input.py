"""Bad input and changed settings: one-line errors, given before anything is written or changed."""

import gzip
import hashlib
import os
import subprocess
import sys
from concurrent import futures

import numpy as np
import pytest

from rcl.config import DataConfig, ExperimentConfig, SweepConfig
from rcl.experiment.pipeline import run_experiment
from rcl.models.monikers import Hyper
from rcl.train.fit_config import FitConfig
from tests.test_train import synthetic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=REPO)


def _snapshot(directory) -> dict:
  """Every file under `directory` with its size, modification time and content hash."""
  out = {}
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = (os.path.getsize(path), os.stat(path).st_mtime_ns,
                                                 hashlib.sha256(f.read()).hexdigest())
  return out


# --- run identity, checked before anything is written ----------------------------------------------------

def _tiny_config(tmp_path, **changes) -> ExperimentConfig:
  base = ExperimentConfig(
      workdir=str(tmp_path / "run"), models=("A",), data=DataConfig(files=(str(tmp_path / "data.fa"),), max_len=48),
      hyper=Hyper(cnn_filters=2, cnn_blocks=2, cnn_dense=(4, 4)), cnn=FitConfig(epochs=1, batch_size=16),
      sweep=SweepConfig(model="B", levels=(0.0, 1.0), epochs=1))
  return ExperimentConfig(**{**base.__dict__, **changes})


def _write_data(path, relabel: bool = False):
  train = synthetic(60, 11, 40)
  names = ["x", "y", "z"]
  path.write_text("".join(f">{i} {names[(y + relabel * (n == 0)) % 3]}\n{s}\n"
                          for n, (i, s, y) in enumerate(zip(train.ids, train.sequences, train.labels))))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("identity")
  _write_data(tmp_path / "data.fa")
  run_experiment(_tiny_config(tmp_path))
  return tmp_path


@pytest.mark.parametrize("changes, expected", [
    pytest.param({"cnn": FitConfig(epochs=1, batch_size=8)}, "holds A trained under other settings (fit: "
                 "{'batch_size': 16} in the checkpoint, {'batch_size': 8} now)", id="batch size"),
    pytest.param({"cnn": FitConfig(epochs=1, batch_size=16, learning_rate=0.01)}, "'learning_rate': 0.01",
                 id="learning rate"),
    pytest.param({"seed": 1}, "split: ", id="seed and split"),
    pytest.param({"hyper": Hyper(cnn_filters=3, cnn_blocks=2, cnn_dense=(4, 4))},
                 "holds A trained under other settings (model:", id="architecture"),
    pytest.param({"sweep": SweepConfig(model="B", levels=(0.0, 1.2), epochs=1)},
                 "holds the sweep trained under other settings (levels: [0.0, 1.0] in the checkpoint",
                 id="sweep levels"),
    pytest.param({"rnn_buckets": (24, 48), "sweep": SweepConfig(model="E", levels=(0.0, 1.0), epochs=1)},
                 "moniker: B in the checkpoint, E now)", id="sweep model"),
    pytest.param("relabel", "data: ", id="data file content"),
])
def test_a_rerun_under_other_settings_is_refused_before_writing_anything(finished_run, changes, expected):
  before = _snapshot(finished_run / "run")
  if changes == "relabel":
    _write_data(finished_run / "data.fa", relabel=True)  # same ids and sequences, one label changed
    changes = {}
  try:
    with pytest.raises(ValueError, match="use a new --workdir") as refused:
      run_experiment(_tiny_config(finished_run, **changes))
    assert expected in str(refused.value)
  finally:
    _write_data(finished_run / "data.fa")
  assert _snapshot(finished_run / "run") == before


# --- bad input: one line, nothing written -----------------------------------------------------------------

def _good_fasta(n: int = 40) -> str:
  rng = np.random.default_rng(0)
  return "".join(f">s{i} {'tRNA' if i % 2 else 'rRNA'}\n{''.join(rng.choice(list('ACGU'), 30 + i))}\n"
                 for i in range(n))


BAD_FILES = {
    "letter.fa": ">a tRNA\nACGT\n>b tRNA\nAC9T\n", "empty.fa": "", "nolabel.fa": ">a\nACGT\n",
    "nohdr.fa": "ACGT\n>a tRNA\nACGT\n", "emptyseq.fa": ">a tRNA\n>b tRNA\nACGT\n",
    "two.fa": ">a tRNA\nACGT\n>b rRNA\nACGA\n",
}
R = ["experiments.run", "--data_dir={tmp}", "--workdir={tmp}/w", "--cnn_epochs=1"]
RUN_CASES = {  # name: (extra flags, what stderr must say)
    "bad letter": (["--files=letter.fa"], "letter.fa:4 (record 'b'): not a nucleotide letter: '9'"),
    "truncated gzip": (["--files=trunc.fa.gz"], "trunc.fa.gz:"),  # + "truncated or corrupt gzip file"
    "empty file": (["--files=empty.fa"], "empty.fa:0: no FASTA records in file"),
    "header without class": (["--files=nolabel.fa"], "nolabel.fa:1 (record 'a'): missing class label"),
    "sequence before header": (["--files=nohdr.fa"], "nohdr.fa:1: sequence data before the first '>' header"),
    "empty sequence": (["--files=emptyseq.fa"], "emptyseq.fa:1 (record 'a'): empty sequence"),
    "binary file": (["--files=binary.fa"], "binary.fa:0: not a text FASTA file"),
    "missing file": (["--files=nope.fa"], "no such file: {tmp}/nope.fa (data directory {tmp}, from --data_dir)"),
    "data set not fetched": (["--files=nrc/dataset_Rfam_6320_13classes.fasta"],
                             "Download the data with `rcl data fetch nrc --dest {tmp}`"),
    "directory as file": (["--files=adir"], "Is a directory: '{tmp}/adir'"),
    "too few records": (["--files=two.fa"], "the val split is empty (2 distinct records in all)"),
    "no data": ([], "no data given: name --files"),
    "files and train_files": (["--files=good.fa", "--train_files=good.fa", "--test_files=good.fa"], "not both"),
    "train without test": (["--train_files=good.fa"], "explicit splits need both --train_files and --test_files"),
    "missing data_dir": (["--files=good.fa", "--data_dir={tmp}/nodir"], "no such file: {tmp}/nodir/good.fa"),
    "reg_level -1": (["--files=good.fa", "--reg_level=-1"], "must be in [0, 2)"),
    "distributed alone": (["--files=good.fa", "--distributed"],
                          "--distributed outside a cluster launcher needs --coordinator_address"),
    "process id out of range": (["--files=good.fa", "--distributed", "--coordinator_address=127.0.0.1:9",
                                 "--num_processes=2", "--process_id=2"],
                                "--process_id=2 is not below --num_processes=2"),
    "cnn_kernel 0": (["--files=good.fa", "--cnn_kernel=0"], "--cnn_kernel=0: 0 is not a positive integer"),
    "learning_rate -1": (["--files=good.fa", "--learning_rate=-1"], "--learning_rate=-1: -1.0 is not a non-negative"),
    "seeds a": (["--files=good.fa", "--seeds=a"], "--seeds takes integers"),
    "batch_size 0": (["--files=good.fa", "--batch_size=0"], "--batch_size=0: 0 is not a positive integer"),
    "checkpoint_every 0": (["--files=good.fa", "--checkpoint_every=0"], "0 is not a positive integer"),
    "unknown moniker": (["--files=good.fa", "--models=Z"], "unknown model moniker(s) ['Z']; known: A, B, C, D, E"),
    "collab without component": (["--files=good.fa", "--models=A", "--collab=LD(A)+LD(E)"],
                                 "need component(s) ['E']: add them to --models"),
    "bad collab spec": (["--files=good.fa", "--collab=XX(A)"], "bad collaborative term 'XX(A)'"),
    "unknown sweep model": (["--files=good.fa", "--sweep_model=Q"], "unknown model moniker(s) ['Q']"),
    "sweep level 2.5": (["--files=good.fa", "--sweep_model=A", "--sweep_levels=2.5"], "got 2.5"),
    "cca_pair of one": (["--files=good.fa", "--models=A,E", "--cca_pair=A", "--cca_trials=5"],
                        "cca_pair names two components"),
    "selection foo": (["--files=good.fa", "--selection=foo"], "--selection=foo: value should be one of"),
    "rnn_buckets 0": (["--files=good.fa", "--rnn_buckets=0"], "--rnn_buckets takes int values >= 1"),
    "ema_decay 1": (["--files=good.fa", "--cnn_ema_decay=1"], "ema_decay must be in [0, 1), got 1.0"),
    "unknown flag": (["--files=good.fa", "--foo=1"], "Unknown command line flag 'foo'"),
    "workdir is a file": (["--files=good.fa", "--workdir={tmp}/afile"], "afile is a file, not a directory"),
    "workdir under a file": (["--files=good.fa", "--workdir={tmp}/afile/sub"], "Not a directory: '{tmp}/afile/sub'"),
    "components_from missing": (["--files=good.fa", "--components_from={tmp}/nodir"],
                                "--components_from={tmp}/nodir is not an rcl experiment directory"),
    "batch not divisible by devices": (["--files=good.fa", "--cpu_devices=2", "--data_parallel", "--batch_size=3"],
                                       "batch size 3 must be a multiple of the 2 devices"),
    "eval batch not divisible by devices": (["--files=good.fa", "--cpu_devices=2", "--data_parallel",
                                             "--batch_size=4", "--eval_batch_size=5"],
                                            "batch size 5 must be a multiple of the 2 devices"),
}
CLASSIFY_CASES = {
    "rcl classify: not a bundle": (["rcl.cli", "classify", "--model={tmp}/adir", "--input={tmp}/good.fa"],
                                   "error: {tmp}/adir is not an rcl model bundle (no manifest.json)"),
    "rcl classify: no --input": (["rcl.cli", "classify", "--model={tmp}/adir"],
                                 "the following arguments are required: --input"),
    "rcl export: not a workdir": (["rcl.cli", "export", "--workdir={tmp}/adir", "--model=A", "--out={tmp}/b"],
                                  "error: {tmp}/adir/config.json not found: {tmp}/adir is not an rcl experiment"),
    "rcl evaluate: unlabelled record": (["rcl.cli", "evaluate", "--input={tmp}/nolabel.fa"],
                                        "error: {tmp}/nolabel.fa:1 (record 'a'): missing class label"),
    "rcl classify: no workers": (["rcl.cli", "classify", "--input={tmp}/good.fa", "--workers=0"],
                                 "error: --top_k, --chunk and --workers must be positive"),
}


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
  """Runs every bad-input command (a few at a time) in one directory of bad files; name -> (rc, stderr)."""
  tmp = tmp_path_factory.mktemp("bad")
  for name, text in dict(BAD_FILES, **{"good.fa": _good_fasta()}).items():
    (tmp / name).write_text(text)
  (tmp / "binary.fa").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 10)
  data = gzip.compress(_good_fasta().encode())
  (tmp / "trunc.fa.gz").write_bytes(data[:len(data) // 2])
  (tmp / "afile").write_text("not a directory")
  (tmp / "adir").mkdir()
  before = _snapshot(tmp)

  def run(name):
    args, _ = {**RUN_CASES, **CLASSIFY_CASES}[name]
    if name in RUN_CASES:
      args = R + args
    proc = subprocess.run([sys.executable, "-m", *(a.format(tmp=tmp) for a in args)], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=300)
    return name, (proc.returncode, proc.stderr)
  with futures.ThreadPoolExecutor(2) as pool:
    out = dict(pool.map(run, [*RUN_CASES, *CLASSIFY_CASES]))
  return tmp, out, before == _snapshot(tmp)


@pytest.mark.parametrize("case", [*RUN_CASES, *CLASSIFY_CASES])
def test_bad_input_is_a_one_line_error_that_changes_nothing(bad_inputs, case):
  tmp, out, unchanged = bad_inputs
  rc, stderr = out[case]
  expected = {**RUN_CASES, **CLASSIFY_CASES}[case][1].format(tmp=tmp)
  assert rc != 0 and expected in stderr, stderr[-2000:]
  assert "Traceback" not in stderr
  lines = [line for line in stderr.splitlines() if line.strip()]
  assert lines[-1].startswith(("error: ", "FATAL Flags parsing error: ", "Pass --helpshort", "rcl ")), lines[-3:]
  assert not (tmp / "w").exists()  # no workdir was created by a refused run
  assert unchanged  # and no given file was touched


def test_a_byte_order_mark_and_a_missing_final_newline_are_accepted(write_fasta):
  from rcl.data.fasta import read_fasta  # noqa: PLC0415
  records = read_fasta(write_fasta("bom.fa", "\ufeff>a tRNA\nACGU\n>b rRNA\nGGCA".encode("utf-8")))
  assert [(r.id, r.label, r.sequence) for r in records] == [("a", "tRNA", "ACGT"), ("b", "rRNA", "GGCA")]
