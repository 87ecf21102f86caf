"""Boundary noise: random flanks around a record, as a sequence cut from a transcript, a read or a genome
window carries nucleotides beyond its family's boundaries.

The protocol is Noviello et al. 2020's (bioinformatics-sannio/ncrna-deep, `get_seqs_with_bnoise`): at
noise level p% a record of length L gets flanks of about p% of L in all, half on each side, made either of
the record's own non-overlapping dinucleotides (its first, third, ... positions start them; an odd record's
last base is a one-base piece), drawn with replacement, int(L p / 400) per side ('dinucleotide'), or of
uniform random nucleotides, int(L p / 200) per side ('uniform'). The same function serves evaluation at a
fixed level (`flank_split`, `flank_sequence`) and training-time augmentation (`Flanked`, fresh flanks
every epoch).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rcl.data import encoding
from rcl.data.dataset import Split

KINDS = ("dinucleotide", "uniform")
AUGMENT_KINDS = KINDS + ("mixed",)  # 'mixed': each flanked record draws one of KINDS
_TAG = 0x666C616E  # 'flan': keeps these streams apart from the other users of a run's seed
COPY_EPOCHS = 1_000_000  # flanked copies outside training draw as epochs from here on


def per_side(length: int, percent: float, kind: str) -> int:
  """Pieces per side: dinucleotides (int(L p / 400)) or bases (int(L p / 200)), as Noviello's int(0.25 L p
  / 100) and int(0.5 L p / 100), computed without their float rounding for whole-number levels."""
  if kind not in KINDS:
    raise ValueError(f"boundary noise kind must be one of {KINDS}, got {kind!r}")
  if percent < 0:
    raise ValueError(f"boundary noise must be >= 0%, got {percent}")
  divisor = 400 if kind == "dinucleotide" else 200
  return int(np.floor(length * percent / divisor + 1e-9))


def flank(symbols: np.ndarray, percent: float, rng: np.random.Generator, kind: str = "dinucleotide",
          alphabet: np.ndarray = np.frombuffer(b"ACGT", np.uint8)) -> tuple[np.ndarray, int]:
  """uint8[L] symbols (ASCII letters or `encoding` codes) -> (uint8[left + L + right] flanked record, left).

  Args:
    symbols: the record.
    percent: noise level p (total flank length ~ p% of L).
    rng: the random stream (all draws come from it, left side first).
    kind: 'dinucleotide' (pieces of the record itself) or 'uniform' (from `alphabet`, equally likely).
    alphabet: the symbols uniform flanks are made of (default ASCII ACGT; `encoding` codes 1-4 for codes).
  """
  n = len(symbols)
  count = per_side(n, percent, kind)
  if count == 0 or n == 0:
    return symbols.copy(), 0
  if kind == "uniform":
    drawn = alphabet[rng.integers(0, len(alphabet), 2 * count)]
    return np.concatenate([drawn[:count], symbols, drawn[count:]]), count
  starts = np.arange(0, n, 2)[rng.integers(0, (n + 1) // 2, 2 * count)]  # [2 count] piece starts
  sizes = np.minimum(2, n - starts)  # 1 for an odd record's last base
  offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
  drawn = symbols[np.repeat(starts, sizes) + offsets]
  left = int(sizes[:count].sum())
  return np.concatenate([drawn[:left], symbols, drawn[left:]]), left


def flank_sequence(sequence: str, percent: float, rng: np.random.Generator, kind: str = "dinucleotide") -> str:
  """A FASTA sequence string with flanks (`flank` on its letters)."""
  flanked, _ = flank(np.frombuffer(sequence.encode("ascii"), np.uint8), percent, rng, kind)
  return flanked.tobytes().decode("ascii")


def level_rng(seed: int, percent: float, stream: int = 0) -> np.random.Generator:
  """The random stream of one evaluation copy: seeded by (seed, level in hundredths of a percent, stream),
  so every level and every split (`stream`) has its own reproducible draw."""
  return np.random.default_rng([_TAG, seed, int(round(percent * 100)), stream])


def flank_split(split: Split, percent: float, seed: int, *, kind: str = "dinucleotide", stream: int = 0,
                max_len: int | None = None) -> Split:
  """A copy of a sequence split with every record flanked at `percent` (from its full sequence, not its
  possibly cut codes), re-encoded to `max_len` (default: the split's width); structures are not carried."""
  rng = level_rng(seed, percent, stream)
  sequences = [flank_sequence(s, percent, rng, kind) for s in split.sequences]
  enc = encoding.encode_sequences(sequences, max_len or split.seq.shape[1])
  return Split(list(split.ids), sequences, enc.codes, enc.lengths, split.labels.copy())


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """Training-time flanks: each epoch, a `share` of the training records is flanked at a level drawn
  uniformly from [0, `max_percent`]%, by `kind` ('mixed': dinucleotide or uniform, equally likely)."""
  share: float
  max_percent: float = 200.0
  kind: str = "mixed"

  def __post_init__(self):
    if not 0.0 <= self.share <= 1.0:
      raise ValueError(f"the share of flanked training records must be in [0, 1], got {self.share}")
    if self.max_percent < 0:
      raise ValueError(f"the largest training flank level must be >= 0%, got {self.max_percent}")
    if self.kind not in AUGMENT_KINDS:
      raise ValueError(f"training flank kind must be one of {AUGMENT_KINDS}, got {self.kind!r}")


class Flanked:
  """A training split whose records get fresh flanks every epoch (`Augmentation`), drawn from (seed,
  epoch) alone, so that a resumed run sees exactly the epochs an uninterrupted one sees. Batches it like
  a `Split` (`rcl.data.batching`): `columns(epoch)` holds the epoch's flanked codes, cut to the split's
  width. Flanks are made of the encoded record (its first `max_len` positions)."""

  def __init__(self, split: Split, augmentation: Augmentation, seed: int):
    if split.sec is not None:
      raise ValueError("flank augmentation cannot be combined with structure inputs (flanks change the fold)")
    self.split, self.augmentation, self.seed = split, augmentation, seed
    self._epoch: int | None = None
    self._columns: dict[str, np.ndarray] = {}

  def __len__(self) -> int:
    return len(self.split)

  @property
  def seq(self) -> np.ndarray:
    return self.split.seq

  def columns(self, epoch: int = 0) -> dict[str, np.ndarray]:
    """'seq' uint8[n, max_len], 'length' int32[n] of the epoch's flanked records, and 'label' int32[n]."""
    if epoch != self._epoch:
      self._columns, self._epoch = self._draw(epoch), epoch
    return self._columns

  def copy(self, index: int) -> Split:
    """The `index`-th flanked copy of the whole split outside training (the collaborative MLP's extra
    inputs): drawn as training epoch COPY_EPOCHS + index would be, an epoch no run reaches."""
    columns = self._draw(COPY_EPOCHS + index)
    letters = np.frombuffer(b"\0ACGTN", np.uint8)
    sequences = [letters[row[:n]].tobytes().decode("ascii") for row, n in zip(columns["seq"], columns["length"])]
    return Split(list(self.split.ids), sequences, columns["seq"], columns["length"], self.split.labels.copy())

  def _draw(self, epoch: int) -> dict[str, np.ndarray]:
    aug, split = self.augmentation, self.split
    rng = np.random.default_rng([_TAG, self.seed, epoch])
    width = split.seq.shape[1]
    seq, lengths = split.seq.copy(), split.lengths.copy()
    chosen = rng.random(len(split)) < aug.share
    percents = rng.uniform(0.0, aug.max_percent, len(split))
    kinds = rng.integers(0, len(KINDS), len(split)) if aug.kind == "mixed" else np.full(len(split), KINDS.index(aug.kind))
    codes = np.arange(1, 5, dtype=np.uint8)
    for i in np.flatnonzero(chosen):
      flanked, _ = flank(split.seq[i, :split.lengths[i]], percents[i], rng, KINDS[kinds[i]], codes)
      flanked = flanked[:width]
      seq[i, :len(flanked)] = flanked
      seq[i, len(flanked):] = encoding.PAD
      lengths[i] = len(flanked)
    return {"seq": seq, "length": lengths, "label": split.labels}
