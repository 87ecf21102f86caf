"""Where the data sets are, decided in one place for every entry point.

The data directory is the first of:
  1. an explicit directory (`--data_dir`);
  2. `$RCL_DATA_DIR`;
  3. `../shared/data`, when it exists (the project's machines keep the data beside the clone);
  4. the cache, `~/.cache/rcl/data`.

`require` then checks the FASTA files a run needs. Missing files that `rcl.data.fetch` knows are
downloaded (verified) when the directory is one the package manages (`$RCL_DATA_DIR` or the cache),
saying so; anywhere else a missing file is an error that names `rcl data fetch`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable

from rcl.data import fetch

CACHE = os.path.join("~", ".cache", "rcl", "data")
SHARED = os.path.join("..", "shared", "data")


@dataclasses.dataclass(frozen=True)
class DataDir:
  """A resolved data directory and how it was chosen ('--data_dir', '$RCL_DATA_DIR', '../shared/data',
  'cache')."""
  path: str
  source: str

  @property
  def managed(self) -> bool:
    """Whether missing known files are fetched into it."""
    return self.source in ("$RCL_DATA_DIR", "cache")


def data_dir(explicit: str | None = None) -> DataDir:
  """The data directory a run reads, in the order above."""
  if explicit:
    return DataDir(explicit, "--data_dir")
  if os.environ.get("RCL_DATA_DIR"):
    return DataDir(os.environ["RCL_DATA_DIR"], "$RCL_DATA_DIR")
  if os.path.isdir(SHARED):
    return DataDir(os.path.abspath(SHARED), "../shared/data")
  return DataDir(os.path.expanduser(CACHE), "cache")


# The two nRC files the paper merges into Test13 (experiments/test13*.flags), relative to the data directory.
TEST13_FILES = ("nrc/dataset_Rfam_6320_13classes.fasta", "nrc/dataset_Rfam_validated_2600_13classes.fasta")


def resolve(names: Iterable[str], explicit: str | None = None, *,
            progress: Callable[[str], None] | None = None) -> list[str]:
  """Paths of `names` (relative to the data directory `data_dir(explicit)` picks), made present by `require`."""
  where = data_dir(explicit)
  paths = [os.path.join(where.path, name) for name in names]
  require(paths, where, progress=progress)
  return paths


def fetch_destination() -> str:
  """Where `rcl data fetch` puts files by default: $RCL_DATA_DIR, else the cache."""
  return os.environ.get("RCL_DATA_DIR") or os.path.expanduser(CACHE)


def require(paths: Iterable[str], where: DataDir, *, progress: Callable[[str], None] | None = None) -> None:
  """Makes sure every FASTA path (already joined to `where.path`, as `DataConfig.resolved` does) exists,
  fetching the known files missing from a managed directory. Raises FileNotFoundError (naming `rcl data
  fetch`) or fetch.FetchError."""
  missing = [p for p in dict.fromkeys(paths) if not os.path.exists(p)]
  if not missing:
    return
  known = {p: fetch.remote_file(os.path.relpath(p, where.path)) for p in missing}
  unknown = [p for p, f in known.items() if f is None]
  if unknown:
    raise FileNotFoundError(f"no such file: {unknown[0]} (data directory {where.path}, from {where.source})")
  names = " ".join(sorted({f.path.split("/")[0] for f in known.values()}))
  if not where.managed:
    raise FileNotFoundError(
        f"{missing[0]} is missing (data directory {where.path}, from {where.source}). Download the data with "
        f"`rcl data fetch {names} --dest {where.path}`, or leave --data_dir out to use $RCL_DATA_DIR or the "
        f"cache {CACHE}, which are filled automatically")
  say = progress or (lambda line: None)
  say(f"fetching {len(known)} missing data file(s) into {where.path} (as `rcl data fetch {names}` does)")
  for file in known.values():
    try:
      fetch.fetch_file(file, where.path, progress=say)
    except fetch.FetchError as e:
      raise fetch.FetchError(f"{e}. `rcl data fetch {names}` tries again") from e
