"""Downloading the public data sets by pinned URL into a directory, verified by sha256.

  rcl data fetch [nrc|rfam-novel|all] [--dest DIR]      (from Python: `fetch(["nrc"], dest)`)

Each file comes from its source repository at a pinned commit (raw-file URL) and is written to
`dest/<data set>/<file>`: streamed into `<file>.<pid>.part` beside it while its sha256 is computed, then renamed
into place only when the digest matches, so a file under its final name is always complete and verified.
A file already present with the right digest is not fetched again. Transient failures (connection
refused or reset, a timeout, a body cut short, HTTP 5xx/429) are retried with exponential backoff; the
rest (404, a checksum mismatch, a full disk) stop at once. Every failure is one `FetchError` line naming
the file, the URL and what to do.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence

_NRC = "https://raw.githubusercontent.com/IcarPA-TBlab/nrc/fc89b13d1278d0e23e34b2e94cc89c3fe913bf9d/data/ECCB2017/"
_FINDALLRNA = "https://raw.githubusercontent.com/Koushul/FindAllRNA/"


@dataclasses.dataclass(frozen=True)
class RemoteFile:
  """One file of a data set: its path under the data directory, where it comes from and its sha256."""
  path: str
  url: str
  sha256: str
  size: int


# The files ../shared/data/README.md describes, at the commits it names (rfam.json at the commit of the
# same repository that holds it).
DATASETS: dict[str, tuple[RemoteFile, ...]] = {
    "nrc": (
        RemoteFile("nrc/dataset_Rfam_6320_13classes.fasta", _NRC + "dataset_Rfam_6320_13classes.fasta",
                   "ee6b760f4a31e79fa78a25528d0bae10b672ecdd640efaa3816a27a4e1b4f019", 1335121),
        RemoteFile("nrc/dataset_Rfam_validated_2600_13classes.fasta",
                   _NRC + "dataset_Rfam_validated_2600_13classes.fasta",
                   "4af288aa17dc5cbe05aecd49bce23462610831f495cc5adf1006c1bfd577b8f2", 513679),
        RemoteFile("nrc/dataset_Rfam_validated_2400_12classes.fasta",
                   _NRC + "dataset_Rfam_validated_2400_12classes.fasta",
                   "9059da206f1f4e3907ab867ad765d8d826ba33958b9e93c363db5940d0bc88d1", 470109),
    ),
    "rfam-novel": (
        RemoteFile("rfam-novel/x_val.fasta",
                   _FINDALLRNA + "75212e8621219d6bfaebd9507734928a4b8aff02/datasets/x_val.fasta",
                   "31ccb1ab13386d7b7a565808a26d077af6fd1833b7278c24fe63c855c5cdf04e", 2272320),
        RemoteFile("rfam-novel/rfam.json",
                   _FINDALLRNA + "f56eabf1f60c2bcfe966ec11687e8f741b2c1840/FindAllRNA/rfam.json",
                   "cd83c7c7ecdf51616842b9a70206724e66ab39cedc73efb9310bbc10347c82c1", 3610),
    ),
}

_CHUNK = 1 << 16
_TRANSIENT_HTTP = {408, 429, 500, 502, 503, 504}


class FetchError(OSError):
  """A file could not be fetched; the message names it, its URL and what to do."""


class _Transient(Exception):
  """A failure worth another try (the message says what happened)."""


def known_files(names: Iterable[str]) -> list[RemoteFile]:
  """The files of the named data sets ('all' for every one); ValueError for an unknown name."""
  files = []
  for name in names:
    if name == "all":
      return [f for group in DATASETS.values() for f in group]
    if name not in DATASETS:
      raise ValueError(f"unknown data set {name!r}: choose from {', '.join(DATASETS)} or all")
    files.extend(DATASETS[name])
  return files


def remote_file(path: str) -> RemoteFile | None:
  """The known file stored at `path` under a data directory (e.g. 'nrc/dataset_Rfam_6320_13classes.fasta')."""
  normal = os.path.normpath(path)
  return next((f for group in DATASETS.values() for f in group if f.path == normal), None)


def sha256(path: str) -> str:
  """The hex sha256 of a file's bytes (also what model bundles' manifests hold)."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(_CHUNK), b""):
      digest.update(block)
  return digest.hexdigest()


def is_verified(file: RemoteFile, dest: str) -> bool:
  path = os.path.join(dest, file.path)
  return os.path.isfile(path) and os.path.getsize(path) == file.size and sha256(path) == file.sha256


def _download(url: str, part: str, timeout: float, on_bytes: Callable[[int], None]) -> str:
  """Streams `url` into `part`; returns the body's sha256. Raises _Transient, urllib's HTTPError (not
  transient) or OSError (local: the disk)."""
  digest = hashlib.sha256()
  try:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
      expected = response.headers.get("Content-Length")
      received = 0
      for block in iter(lambda: response.read(_CHUNK), b""):
        out.write(block)
        digest.update(block)
        received += len(block)
        on_bytes(received)
      if expected is not None and received != int(expected):
        raise _Transient(f"the connection closed after {received} of {expected} bytes")
  except urllib.error.HTTPError as e:
    if e.code in _TRANSIENT_HTTP:
      raise _Transient(f"HTTP {e.code} {e.reason}") from e
    raise
  except (TimeoutError, socket.timeout) as e:
    raise _Transient(f"no answer within {timeout:g} s") from e
  except urllib.error.URLError as e:
    if isinstance(e.reason, (TimeoutError, socket.timeout)):
      raise _Transient(f"no answer within {timeout:g} s") from e
    raise _Transient(f"cannot connect ({e.reason})") from e
  except (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError) as e:
    raise _Transient(f"the connection broke ({e.__class__.__name__})") from e
  return digest.hexdigest()


def url_of(file: RemoteFile, mirror: str | None = None) -> str:
  """The pinned URL, or `<mirror>/<file.path>` for a mirror (the argument, else $RCL_DATA_MIRROR): a base
  URL serving the data directory's layout. The tests use one on 127.0.0.1; a site may keep a copy."""
  mirror = mirror or os.environ.get("RCL_DATA_MIRROR")
  return f"{mirror.rstrip('/')}/{file.path}" if mirror else file.url


def fetch_file(file: RemoteFile, dest: str, *, mirror: str | None = None, retries: int = 3, timeout: float = 30.0,
               backoff: float = 1.0, progress: Callable[[str], None] | None = None) -> str:
  """Makes `dest/file.path` a verified copy of `file` (fetching it unless it already is one); returns
  the path. Raises FetchError."""
  path = os.path.join(dest, file.path)
  url = url_of(file, mirror)
  say = progress or (lambda line: None)
  if is_verified(file, dest):
    say(f"{file.path}: present, sha256 verified")
    return path
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
  except OSError as e:
    raise FetchError(f"cannot create {os.path.dirname(path)} for {file.path}: {e.strerror}; pick another "
                     "directory with --dest or $RCL_DATA_DIR") from e
  part = f"{path}.{os.getpid()}.part"  # per process: several processes may fetch the same file at once
  last = ""
  for attempt in range(retries + 1):
    if attempt:
      time.sleep(backoff * 2 ** (attempt - 1))
    shown = [0]

    def on_bytes(n: int) -> None:
      if n - shown[0] >= (1 << 20) or n == file.size:
        shown[0] = n
        say(f"{file.path}: {n / 2**20:.1f} of {file.size / 2**20:.1f} MB")

    try:
      digest = _download(url, part, timeout, on_bytes)
    except _Transient as e:
      last = str(e)
      say(f"{file.path}: {last}; " + ("retrying" if attempt < retries else "giving up"))
      continue
    except urllib.error.HTTPError as e:
      _remove(part)
      hint = "the URL is wrong or the file moved: fetch it by hand into " + path if e.code == 404 else \
          "the server refused it"
      raise FetchError(f"{file.path}: {url} answered HTTP {e.code} {e.reason}; {hint}") from e
    except OSError as e:
      _remove(part)
      if e.errno == errno.ENOSPC:
        raise FetchError(f"{file.path}: no space left on the device writing {part}; free some space or "
                         "fetch elsewhere with --dest (or $RCL_DATA_DIR)") from e
      raise FetchError(f"{file.path}: cannot write {part}: {e.strerror or e}") from e
    if digest != file.sha256:
      _remove(part)
      raise FetchError(f"{file.path}: the file at {url} has sha256 {digest}, not the pinned {file.sha256}; "
                       "nothing was kept. The source changed or the download was altered: retry later, or "
                       f"place a verified copy at {path}")
    os.replace(part, path)
    say(f"{file.path}: fetched, sha256 verified")
    return path
  _remove(part)
  raise FetchError(f"{file.path}: could not download {url} ({last}, {retries + 1} tries). If this machine is "
                   f"offline, fetch on one that is online and copy the file to {path}")


def fetch(names: Sequence[str], dest: str, *, mirror: str | None = None, retries: int = 3, timeout: float = 30.0,
          backoff: float = 1.0, progress: Callable[[str], None] | None = None) -> list[str]:
  """Fetches the named data sets ('nrc', 'rfam-novel', 'all') into `dest`; returns the files' paths.
  `mirror`: see `url_of` (the pinned sha256 still applies)."""
  return [fetch_file(f, dest, mirror=mirror, retries=retries, timeout=timeout, backoff=backoff, progress=progress)
          for f in known_files(names)]


def _remove(path: str) -> None:
  try:
    os.remove(path)
  except FileNotFoundError:
    pass
