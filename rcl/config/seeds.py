"""Where a run's randomness comes from: one seed per source, each following --seed unless it is set.

The sources follow Bouthillier et al. 2021 ("Accounting for Variance in Machine Learning Benchmarks"): the
data split, the parameters' initialisation, the data order, the training-time corruption (noise, dropout and
training flanks) and, apart, the collaborative MLPs (all their own randomness). A variance study
(`rcl.experiment.variance`) varies one source at a time with the others held at --seed. The evaluations'
own draws (flanked and decoy copies, CCA trials, bootstrap intervals) stay on --seed: they measure a model
and are not part of training it.
"""

from __future__ import annotations

import dataclasses

from rcl.config.fields import field_help as _help

SOURCES = ("split", "init", "order", "noise", "collab")


@dataclasses.dataclass(frozen=True)
class Seeds:
  """Per-source seeds; None follows the run's --seed.

  Attributes:
    split_seed: the 80:10:10 split.
    init_seed: the components' initial parameters.
    order_seed: the components' epoch shuffles (their batch order).
    noise_seed: the components' Gaussian noise, dropout and training flanks.
    collab_seed: the collaborative MLPs: initialisation, order, noise and dropout, their training-mode
      feature draws and flanked copies.
  """
  split_seed: int | None = dataclasses.field(default=None, metadata=_help("Seed of the data split (default: --seed)."))
  init_seed: int | None = dataclasses.field(
      default=None, metadata=_help("Seed of the components' initialisation (default: --seed)."))
  order_seed: int | None = dataclasses.field(
      default=None, metadata=_help("Seed of the components' batch order (default: --seed)."))
  noise_seed: int | None = dataclasses.field(
      default=None, metadata=_help("Seed of the components' noise, dropout and training flanks (default: --seed)."))
  collab_seed: int | None = dataclasses.field(
      default=None, metadata=_help("Seed of the collaborative MLPs' initialisation, order, noise and feature draws "
                                   "(default: --seed)."))

  def of(self, source: str, seed: int) -> int:
    """The seed of `source` (one of SOURCES) in a run of seed `seed`."""
    own = getattr(self, _field(source))
    return seed if own is None else own

  def varied(self, source: str, seed: int) -> Seeds:
    """These seeds with `source`'s set to `seed`."""
    return dataclasses.replace(self, **{_field(source): seed})


def _field(source: str) -> str:
  if source not in SOURCES:
    raise ValueError(f"seed source must be one of {SOURCES}, got {source!r}")
  return f"{source}_seed"
