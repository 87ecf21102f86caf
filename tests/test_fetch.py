"""`rcl data fetch` against a real HTTP server on the loopback interface (never any other address)."""

import gc
import hashlib
import http.server
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import threading
import warnings

import pytest

from rcl.data import fetch, location

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = b">s1 tRNA\nACGUACGUACGU\n" * 5000  # ~110 kB: several reads of 64 kB


class _Server:
  """http.server on 127.0.0.1 at an ephemeral port, serving `files` (path -> bytes) with per-path
  behaviours: 'corrupt' (another body), 'drop_once' (the first response stops half way) or missing (404)."""

  def __init__(self, files: dict[str, bytes], behaviour: dict[str, str] | None = None):
    self.files, self.behaviour, self.requests = files, behaviour or {}, []
    server = self

    class Handler(http.server.BaseHTTPRequestHandler):
      def do_GET(self):  # noqa: N802 - http.server's name
        path = self.path.lstrip("/")
        server.requests.append(path)
        body, how = server.files.get(path), server.behaviour.get(path)
        if body is None:
          self.send_error(404)
          return
        if how == "corrupt":
          body = body[:-1] + b"X"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if how == "drop_once" and server.requests.count(path) == 1:
          self.wfile.write(body[:len(body) // 2])
          self.wfile.flush()
          self.close_connection = True
          return
        self.wfile.write(body)

      def log_message(self, *args):
        pass

    self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
    self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

  def __enter__(self):
    self.thread.start()
    return self

  def __exit__(self, *exc):
    self.httpd.shutdown()
    self.httpd.server_close()


def _file(path="demo/seqs.fasta", body=BODY):
  return fetch.RemoteFile(path, "https://example.invalid/never-used", hashlib.sha256(body).hexdigest(), len(body))


def _fetch(file, dest, server_url, **kw):
  return fetch.fetch_file(file, str(dest), mirror=server_url, **{"retries": 2, "backoff": 0.01, "timeout": 5, **kw})


def test_fetch_verifies_writes_atomically_and_never_downloads_twice(tmp_path):
  file, lines = _file(), []
  with _Server({file.path: BODY}) as server:
    path = _fetch(file, tmp_path, server.url, progress=lines.append)
    assert pathlib.Path(path).read_bytes() == BODY and path == str(tmp_path / file.path)
    assert server.requests == [file.path]
    assert _fetch(file, tmp_path, server.url) == path
    assert server.requests == [file.path]  # the verified copy is kept
  assert os.listdir(tmp_path / "demo") == ["seqs.fasta"]  # no .part left
  assert any("0.1 of 0.1 MB" in line for line in lines) and lines[-1].endswith("fetched, sha256 verified")


def test_a_corrupted_body_is_a_checksum_error_and_leaves_nothing(tmp_path):
  file = _file()
  with _Server({file.path: BODY}, {file.path: "corrupt"}) as server, pytest.raises(fetch.FetchError) as e:
    _fetch(file, tmp_path, server.url)
  assert f"{server.url}/demo/seqs.fasta has sha256" in str(e.value) and file.sha256 in str(e.value)
  assert "nothing was kept" in str(e.value) and os.listdir(tmp_path / "demo") == []


def test_a_connection_dropped_mid_file_is_retried(tmp_path):
  file, lines = _file(), []
  with _Server({file.path: BODY}, {file.path: "drop_once"}) as server:
    path = _fetch(file, tmp_path, server.url, progress=lines.append)
    assert server.requests == [file.path, file.path]
  assert pathlib.Path(path).read_bytes() == BODY
  assert any("retrying" in line for line in lines)


def test_a_404_names_the_file_and_url_and_is_not_retried(tmp_path):
  file = _file()
  with _Server({}) as server, pytest.raises(fetch.FetchError) as e:
    _fetch(file, tmp_path, server.url)
  assert server.requests == [file.path]
  assert str(e.value).startswith(f"demo/seqs.fasta: {server.url}/demo/seqs.fasta answered HTTP 404")


def test_a_server_that_never_answers_times_out_clearly(tmp_path):
  silent = socket.socket()
  silent.bind(("127.0.0.1", 0))
  silent.listen(4)  # connections complete in the backlog; nothing ever answers them
  try:
    with warnings.catch_warnings():
      # http.client leaves a response that timed out before its status line to the garbage collector.
      warnings.simplefilter("ignore", ResourceWarning)
      with pytest.raises(fetch.FetchError) as e:
        _fetch(_file(), tmp_path, f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3, retries=1)
      gc.collect()
  finally:
    silent.close()
  assert "no answer within 0.3 s, 2 tries" in str(e.value) and "offline" in str(e.value)


def test_nothing_listening_is_an_offline_error(tmp_path):
  closed = socket.socket()
  closed.bind(("127.0.0.1", 0))
  port = closed.getsockname()[1]
  closed.close()
  with pytest.raises(fetch.FetchError) as e:
    _fetch(_file(), tmp_path, f"http://127.0.0.1:{port}", retries=1)
  assert "cannot connect" in str(e.value) and "offline" in str(e.value)


def test_a_full_disk_is_named(tmp_path, monkeypatch):
  file, real_open = _file(), open
  monkeypatch.setattr(fetch, "open", lambda path, mode="r": real_open("/dev/full", mode), raising=False)
  with _Server({file.path: BODY}) as server, pytest.raises(fetch.FetchError) as e:
    _fetch(file, tmp_path, server.url)
  assert "no space left on the device" in str(e.value) and "--dest" in str(e.value)
  assert server.requests == [file.path]  # not retried


def test_data_sets_resolve_in_order(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  monkeypatch.delenv("RCL_DATA_DIR", raising=False)
  assert location.data_dir() == location.DataDir(str(tmp_path / "home/.cache/rcl/data"), "cache")
  (tmp_path.parent / "shared" / "data").mkdir(parents=True, exist_ok=True)
  try:
    assert location.data_dir() == location.DataDir(str(tmp_path.parent / "shared/data"), "../shared/data")
    monkeypatch.setenv("RCL_DATA_DIR", "/env/dir")
    assert location.data_dir() == location.DataDir("/env/dir", "$RCL_DATA_DIR")
    assert location.data_dir("/flag/dir") == location.DataDir("/flag/dir", "--data_dir")
  finally:
    shutil.rmtree(tmp_path.parent / "shared")
  with pytest.raises(ValueError, match="unknown data set 'nrcc'"):
    fetch.known_files(["nrcc"])
  assert {f.path for f in fetch.known_files(["all"])} == {
      "nrc/dataset_Rfam_6320_13classes.fasta", "nrc/dataset_Rfam_validated_2600_13classes.fasta",
      "nrc/dataset_Rfam_validated_2400_12classes.fasta", "rfam-novel/x_val.fasta", "rfam-novel/rfam.json"}


def _clone(tmp_path):
  """The repository's files as a clean clone would hold them (tracked and untracked-but-not-ignored),
  at tmp/clone, where no ../shared sits beside it."""
  names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, check=True).stdout.decode().split("\0")
  clone = tmp_path / "clone"
  for name in filter(None, names):
    if os.path.isfile(os.path.join(REPO, name)):
      os.makedirs(clone / os.path.dirname(name), exist_ok=True)
      shutil.copy2(os.path.join(REPO, name), clone / name)
  return clone


@pytest.mark.slow
def test_a_clean_clone_without_data_fetches_and_runs(tmp_path, real_data):
  """RCL_DATA_DIR at an empty directory, the pinned files served by the loopback server: the run fetches
  what it needs (saying so), trains, and a later `rcl data fetch` downloads nothing. Without a
  manageable data directory the error names `rcl data fetch`."""
  assert not os.path.exists(tmp_path / "shared")
  clone, data = _clone(tmp_path), tmp_path / "empty"
  data.mkdir()
  served = {f.path: pathlib.Path(os.path.join(real_data, f.path)).read_bytes() for f in fetch.known_files(["nrc"])}
  env = {k: v for k, v in os.environ.items() if k not in ("RCL_DATA_DIR", "RCL_DATA_MIRROR")}
  env.update(PYTHONPATH=str(clone), HOME=str(tmp_path / "home"))
  run = [sys.executable, "-m", "experiments.run", "--files=nrc/dataset_Rfam_validated_2600_13classes.fasta",
         "--workdir=w", "--models=A", "--cnn_filters=4", "--cnn_dense=8,8", "--cnn_epochs=1", "--max_len=64",
         "--batch_size=128"]
  with _Server(served) as server:
    env.update(RCL_DATA_DIR=str(data), RCL_DATA_MIRROR=server.url)
    proc = subprocess.run(run, cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fetching 1 missing data file(s)" in proc.stdout and "fetched, sha256 verified" in proc.stdout
    assert server.requests == ["nrc/dataset_Rfam_validated_2600_13classes.fasta"]
    assert os.path.isfile(clone / "w" / "results.json")
    proc = subprocess.run([sys.executable, "-m", "rcl.cli", "data", "fetch", "nrc"], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 files verified in" in proc.stdout and len(server.requests) == 3  # only the two not yet fetched
  for name, body in served.items():
    assert pathlib.Path(data / name).read_bytes() == body
  del env["RCL_DATA_DIR"], env["RCL_DATA_MIRROR"]
  proc = subprocess.run(run + [f"--data_dir={tmp_path / 'elsewhere'}"], cwd=clone, env=env, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 1 and "`rcl data fetch nrc --dest" in proc.stderr
  assert "Traceback" not in proc.stderr and "No such file or directory" not in proc.stderr
  # No data directory at all and no network (nothing listens at the mirror): the cache is tried, and the
  # error says what failed and names the command.
  with socket.socket() as closed:
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
  proc = subprocess.run(run, cwd=clone, env=dict(env, RCL_DATA_MIRROR=f"http://127.0.0.1:{port}"),
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1 and "cannot connect" in proc.stderr and "`rcl data fetch nrc` tries again" in proc.stderr
  assert str(tmp_path / "home" / ".cache" / "rcl" / "data") in proc.stdout + proc.stderr
  assert "Traceback" not in proc.stderr
