"""Shared test helpers: small FASTA files made in the test, the real data directory, XLA compilations counted."""

import contextlib
import os
import tempfile

import pytest

# Every test (and every subprocess a test starts) shares one persistent XLA compilation cache: the suite
# compiles the same small models many times, and a cached executable is the same executable, so results
# do not change. Set before anything imports JAX; the machine-local temporary directory keeps an
# executable on the CPU it was compiled for.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "rcl-tests-xla-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# The portable CPU mode experiments.run runs in, so that what a test computes in its own process equals, bit
# for bit, what the entry points it starts compute (set before anything imports JAX).
from rcl import portable_cpu  # noqa: E402

portable_cpu.request()
# The subprocesses tests start (entry points, `rcl`) begin with glibc's huge-page malloc already asked for, so
# that each does not restart itself to ask (rcl/allocator.py; 4-5 s of imports each, over a hundred of them).
# tests/test_cli.py tests the restart itself, without the tunable.
from rcl import allocator  # noqa: E402

allocator.ask(os.environ)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("RCL_DATA_DIR", os.path.join(REPO, "..", "shared", "data"))


@pytest.fixture
def write_fasta(tmp_path):
  """write_fasta(name, text) -> path of a file holding `text` exactly (bytes if given bytes)."""
  def write(name: str, text) -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
      path.write_bytes(text)
    else:
      path.write_text(text, newline="")
    return str(path)
  return write


@pytest.fixture
def real_data() -> str:
  """The shared nRC / Rfam-novel directory (../shared/data beside the repo, or $RCL_DATA_DIR)."""
  if not os.path.isdir(os.path.join(SHARED_DATA, "nrc")):
    pytest.skip(f"real data not found at {SHARED_DATA}")
  return SHARED_DATA


@pytest.fixture
def compilations():
  """`with compilations() as seconds:` collects the duration of every XLA compilation inside the block."""
  import jax  # noqa: PLC0415  (after the environment above is set)

  @contextlib.contextmanager
  def collect():
    seconds = []

    def listen(event, duration, **kwargs):
      if event == "/jax/core/compile/backend_compile_duration":
        seconds.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
      yield seconds
    finally:
      jax.monitoring.unregister_event_duration_listener(listen)
  return collect
