"""Secondary structure of one sequence: ViennaRNA's minimum-free-energy fold, with fixed model details."""

from __future__ import annotations

import functools
import re

# Model details passed explicitly to ViennaRNA (its defaults), so a global change of RNA.cvar settings
# in the calling process cannot silently alter the structures. Part of the cache tag.
FOLD_PARAMS = {
    "temperature": 37.0,
    "dangles": 2,
    "noLP": 0,
    "noGU": 0,
    "noGUclosure": 0,
    "special_hp": 1,
    "circ": 0,
    "gquad": 0,
}
# Bump when the way a sequence is turned into ViennaRNA input changes (it invalidates the cache).
NORMALISATION_VERSION = 1

_NON_ACGU = re.compile(r"[^ACGU]")


@functools.cache
def _rna():
  try:
    import RNA  # pylint: disable=import-outside-toplevel
  except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("secondary structures need the ViennaRNA Python bindings (module `RNA`)") from e
  return RNA


@functools.cache
def _model_details():
  RNA = _rna()  # pylint: disable=invalid-name
  md = RNA.md()
  for name, value in FOLD_PARAMS.items():
    setattr(md, name, value)
  return md


def vienna_version() -> str:
  """The installed ViennaRNA version, e.g. '2.8.0'."""
  return str(_rna().__version__)


def normalise(sequence: str) -> str:
  """Turns a DNA-alphabet sequence into ViennaRNA input of the same length.

  Upper-cases, writes T as U and replaces every other symbol that is not A, C, G or U (the IUPAC
  ambiguity codes N R Y K M S W B D H V, or anything else) by 'N'.
  """
  return _NON_ACGU.sub("N", sequence.upper().replace("T", "U"))


def fold(sequence: str) -> str:
  """Minimum-free-energy secondary structure of one sequence (ViennaRNA, default Turner 2004 model).

  Ambiguity codes: every symbol other than A, C, G, T/U (IUPAC N R Y K M S W B D H V, any other
  character) is given to ViennaRNA as 'N', which it never pairs: such positions always come out
  unpaired ('.'), and folding never fails on them. Resolving a code to one of its bases (e.g. R -> A)
  would invent a base the data do not have, and pairing it optimistically would let unknown bases
  create stems; 'N' is the conservative choice. ViennaRNA would treat unknown letters like 'N' anyway,
  the substitution makes it explicit and independent of ViennaRNA's input handling.

  Args:
    sequence: str of length L, upper-case DNA alphabet (T, not U), IUPAC codes allowed.

  Returns:
    Dot-bracket str of length L over '(', ')', '.'; '' for ''.
  """
  if not sequence:
    return ""
  fc = _rna().fold_compound(normalise(sequence), _model_details())
  structure, _ = fc.mfe()
  if len(structure) != len(sequence):  # pragma: no cover - guards against a ViennaRNA surprise
    raise RuntimeError(f"ViennaRNA returned {len(structure)} positions for a sequence of {len(sequence)}")
  return structure
