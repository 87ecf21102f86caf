"""FASTA reading for nRC (`>ID CLASS`) and Rfam-novel (`>RFxxxxx`) files, with strict validation."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import os
import re
import sys
import zlib
from collections.abc import Iterator

# IUPAC nucleotide ambiguity codes: legal input, encoded as the paper's "other symbol".
AMBIGUITY = frozenset("NRYKMSWBDHV")
NUCLEOTIDES = frozenset("ACGTU")
_ACCESSION = re.compile(r"^RF\d{5}$")


class FastaError(ValueError):
  """A FASTA input problem, with the file, line and record it concerns."""

  def __init__(self, path: str, line: int, record: str | None, problem: str):
    where = f"{path}:{line}"
    rec = f" (record {record!r})" if record else ""
    super().__init__(f"{where}{rec}: {problem}")
    self.path, self.line, self.record, self.problem = path, line, record, problem


@dataclasses.dataclass(frozen=True)
class Record:
  """One FASTA record.

  Attributes:
    id: the record identifier (nRC: first header token; Rfam-novel: accession + ordinal).
    label: the class label, or None where the file carries none (prediction input).
    sequence: upper-case DNA alphabet (U already written as T), possibly with IUPAC codes.
    path: the file it came from.
    line: 1-based line number of its header.
  """
  id: str
  label: str | None
  sequence: str
  path: str
  line: int


STDIN = "-"


class ReadPosition:
  """How far a reader has got through its file, for a progress ETA: the records yielded so far, and the
  bytes read from disk (compressed bytes for gzip, read ahead by up to a buffer) against the file's size,
  which is unknown for standard input."""

  def __init__(self):
    self._raw: io.BufferedReader | None = None
    self.size: int | None = None
    self.records = 0
    self.finished = False

  def attach(self, raw: io.BufferedReader, size: int | None) -> None:
    self._raw, self.size = raw, size

  def fraction(self) -> float | None:
    """The share of the file read so far (1.0 once it is all read), or None when the size is unknown."""
    if self.finished:
      return 1.0
    if self._raw is None or not self.size or self._raw.closed:
      return None
    return min(1.0, self._raw.tell() / self.size)


def _open_text(path: str, stack: contextlib.ExitStack, position: ReadPosition | None):
  """A text stream of a FASTA file, plain or gzip (by its magic bytes); '-' is standard input. The
  streams are closed by `stack`."""
  if path == STDIN:
    raw = sys.stdin.buffer
    size = None
  else:
    raw = stack.enter_context(open(path, "rb"))
    size = os.fstat(raw.fileno()).st_size
  if position is not None:
    position.attach(raw, size)
  if raw.peek(2)[:2] == b"\x1f\x8b":
    # -sig: a byte-order mark (Windows editors) is skipped.
    return stack.enter_context(gzip.open(raw, "rt", encoding="utf-8-sig", newline=""))
  text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
  if path == STDIN:
    stack.callback(text.detach)  # leaves standard input open
    return text
  return stack.enter_context(text)


def _parse_header(header: str, path: str, line: int, ordinal: int, require_label: bool) -> tuple[str, str | None]:
  tokens = header.split()
  if not tokens:
    raise FastaError(path, line, None, "empty header line '>'")
  if len(tokens) >= 2:
    # nRC style: '>ID CLASS'; the class is the last token (class names have no spaces).
    return tokens[0], tokens[-1]
  token = tokens[0]
  if _ACCESSION.match(token):
    # Rfam-novel style: the header is the family accession alone.
    return f"{token}_{ordinal}", token
  if require_label:
    raise FastaError(path, line, token, "missing class label: expected '>ID CLASS' or '>RFxxxxx'")
  return token, None


def _check_sequence(seq: str, path: str, line: int, record: str) -> str:
  seq = seq.upper().replace("U", "T")
  bad = set(seq) - NUCLEOTIDES - AMBIGUITY
  if bad:
    shown = ", ".join(repr(c) for c in sorted(bad))
    raise FastaError(path, line, record, f"not a nucleotide letter: {shown}")
  return seq


def iter_records(path: str | os.PathLike, require_label: bool = True,
                 position: ReadPosition | None = None) -> Iterator[Record]:
  """Yields the records of one FASTA file (plain or gzip), validating as it goes; `position`, when
  given, follows how far the file has been read.

  Multi-line sequences, CRLF line ends, lower case and whitespace inside sequence lines are accepted;
  U is read as T. Raises FastaError naming file, line and record for: text before the first header,
  an empty header, a record with no sequence, a character that is not a nucleotide or IUPAC code,
  and (when `require_label`) a header with no class label.
  """
  path = os.fspath(path)
  header: tuple[str, str | None] | None = None
  header_line = 0
  chunks: list[tuple[int, str]] = []
  ordinal = 0

  def finish() -> Record:
    rid, label = header
    if not chunks:
      raise FastaError(path, header_line, rid, "empty sequence")
    parts = [_check_sequence(text, path, ln, rid) for ln, text in chunks]
    if position is not None:
      position.records += 1
    return Record(rid, label, "".join(parts), path, header_line)

  number = 0
  try:
    with contextlib.ExitStack() as stack:
      handle = _open_text(path, stack, position)
      for number, raw in enumerate(handle, start=1):
        text = raw.rstrip("\r\n")
        if text.startswith(">"):
          if header is not None:
            yield finish()
          ordinal += 1
          header = _parse_header(text[1:], path, number, ordinal, require_label)
          header_line, chunks = number, []
          continue
        text = "".join(text.split())
        if not text:
          continue
        if text.startswith(";"):
          continue  # classic FASTA comment line
        if header is None:
          raise FastaError(path, number, None, "sequence data before the first '>' header")
        chunks.append((number, text))
  except UnicodeDecodeError as e:
    raise FastaError(path, 0, None, f"not a text FASTA file ({e.reason})") from None
  except (EOFError, gzip.BadGzipFile, zlib.error) as e:
    raise FastaError(path, number + 1, None, f"truncated or corrupt gzip file ({e})") from None
  if header is not None:
    record = finish()
    if position is not None:
      position.finished = position.size is not None
    yield record
  elif ordinal == 0:
    raise FastaError(path, 0, None, "no FASTA records in file")


def read_fasta(path: str | os.PathLike, require_label: bool = True) -> list[Record]:
  """Reads every record of a FASTA file; see `iter_records`."""
  return list(iter_records(path, require_label))
