"""The settings of each stage after the components: collaborative models, analysis, boundary noise,
novelty and the regularisation sweep."""

from __future__ import annotations

import dataclasses

from rcl.analysis import novelty
from rcl.collab import combine
from rcl.config import fields
from rcl.config.fields import field_help as _help
from rcl.data import flanks
from rcl.models import monikers
from rcl.models.noise import check_level
from rcl.train.fit_config import FitConfig

COLLAB_TRAIN_FEATURES = ("sampled", "in_sample")


@dataclasses.dataclass(frozen=True)
class CollabConfig:
  """The collaborative MLPs of Table 2 and how they learn."""
  specs: tuple[str, ...] = dataclasses.field(
      default=(), metadata=_help("Collaborative models, e.g. 'LD(A)+LD(E)' (several: comma-separated).",
                                 flag="collab"))
  fit: FitConfig = dataclasses.field(default_factory=FitConfig, metadata={"prefix": "", "fields": fields.COLLAB})
  dense: tuple[int, ...] = dataclasses.field(default=(128, 64), metadata=_help("Hidden widths of the MLP."))
  train_features: str = dataclasses.field(
      default="in_sample", metadata=_help(
          "What collaborative MLPs learn from on the training split: 'in_sample' (the paper: deterministic "
          "training-set features) or 'sampled' (training-mode passes of the components, noise and dropout on).",
          choices=COLLAB_TRAIN_FEATURES))
  draws: int = dataclasses.field(
      default=8, metadata=_help("Training-mode passes per component for 'sampled' (one per epoch).", lower=1))
  input_noise: float = dataclasses.field(
      default=1.0, metadata=_help(
          "Gaussian noise sigma on the MLP's standardised inputs (the study's winner, BUILD.md; the paper: 0).",
          lower=0.0))
  flank_copies: int = dataclasses.field(
      default=0, metadata=_help(
          "Flanked copies of the training split (drawn as the training flanks of the family with the larger "
          "--augment_flanks share) "
          "whose component features the MLPs also learn from, beside the clean ones (0: none).", lower=0))

  def __post_init__(self):
    for spec in self.specs:
      combine.parse(spec)
    if self.flank_copies and self.train_features != "in_sample":
      raise ValueError("--collab_flank_copies goes with --collab_train_features=in_sample")


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
  """The joint learning coefficient and the feature study (Sec. 3-4, Fig. 5)."""
  burn_in: int = dataclasses.field(
      default=10, metadata=_help("Epochs left out of the joint learning coefficient (eq. 1).", lower=0))
  cca_pair: tuple[str, ...] = dataclasses.field(
      default=("A", "E"), metadata=_help("Components whose validation LD features CCA/PCA compares."))
  cca_trials: int = dataclasses.field(
      default=0, metadata=_help("Monte Carlo trials per rho (paper: 1000); 0 skips the analysis.", lower=0))
  cca_rhos: int = dataclasses.field(default=21, metadata=_help("Points of the rho grid in [0, 1].", lower=2))

  def __post_init__(self):
    if len(self.cca_pair) != 2:
      raise ValueError(f"cca_pair names two components, got {list(self.cca_pair)}")


@dataclasses.dataclass(frozen=True)
class BoundaryConfig:
  """Boundary noise (Noviello et al. 2020): every model evaluated on flanked copies of validation and test."""
  levels: tuple[float, ...] = dataclasses.field(
      default=(), metadata=_help("Boundary-noise levels, % of each record's length added as flanks, at which "
                                 "every model is evaluated on flanked validation and test copies (empty: none).",
                                 flag="boundary_noise", lower=0.0))
  kind: str = dataclasses.field(
      default="dinucleotide", metadata=_help("Evaluation flanks: the record's own dinucleotides (Noviello et "
                                             "al.'s) or uniform nucleotides.", choices=flanks.KINDS))


@dataclasses.dataclass(frozen=True)
class NoveltyConfig:
  """Calibration and novelty: the threshold rule of the 'unclassified' call and the score it thresholds."""
  enabled: bool = dataclasses.field(
      default=True, metadata=_help(
          "Fit every model's temperature and novelty rule (calibration, decoys, the 'unclassified' threshold). "
          "Without it a bundle exported from the run has neither, and classify calls no record unclassified.",
          flag="trust"))
  keep: float = dataclasses.field(
      default=0.95, metadata=_help("Share of known-class validation records the novelty threshold keeps.",
                                   flag="keep", lower=0.01))
  score: str = dataclasses.field(
      default="auto", metadata=_help("Novelty score of each model: 'auto' (the lowest mean false-acceptance "
                                     "rate over the validation novel sets at its threshold) or one of them.",
                                     choices=("auto",) + novelty.SCORES))

  def __post_init__(self):
    if not 0 < self.keep <= 1:
      raise ValueError(f"--keep is a share of records in (0, 1], got {self.keep}")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
  """The regularisation sweep (Fig. 3-4): one component at several levels lambda, as one population."""
  model: str | None = dataclasses.field(
      default=None, metadata=_help("Moniker to train at every --sweep_levels (empty: no sweep)."))
  levels: tuple[float, ...] = dataclasses.field(
      default=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8),
      metadata=_help("Regularisation levels lambda of the sweep."))
  epochs: int = dataclasses.field(default=500, metadata=_help("Epochs of the sweep.", lower=1))

  def __post_init__(self):
    if self.model is not None:
      monikers.parse_monikers([self.model])
    for level in self.levels:
      check_level(level)
