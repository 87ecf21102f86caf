"""What defines an experiment: a nested, typed configuration whose defaults are written only here.

Every field carries its help text in `metadata`; entry points turn the fields into flags (named by the
field, with the prefix of the enclosing field, or by metadata 'flag'; 'flag': None keeps a field off the
command line) and build the configuration back from them, so a default is never written twice.
"""

from __future__ import annotations

import dataclasses
import os

from rcl.analysis import novelty
from rcl.collab import combine
from rcl.data import batching, flanks
from rcl.models import monikers
from rcl.models.noise import check_level
from rcl.train.loop import SELECTION_RULES, FitConfig

COLLAB_TRAIN_FEATURES = ("sampled", "in_sample")
ON_CONFLICT = ("drop", "first", "error")


def _help(text: str, **more) -> dict:
  return {"help": text, **more}


def default_structure_cache() -> str:
  """$RCL_CACHE_DIR, else ~/.cache/rcl/structures."""
  return os.environ.get("RCL_CACHE_DIR", os.path.expanduser("~/.cache/rcl/structures"))


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Which sequences, how they are split and encoded."""
  files: tuple[str, ...] = dataclasses.field(
      default=(), metadata=_help("FASTA files to merge, de-duplicate and split 80:10:10."))
  train_files: tuple[str, ...] = dataclasses.field(default=(), metadata=_help("Explicit training FASTA files."))
  val_files: tuple[str, ...] = dataclasses.field(
      default=(), metadata=_help("Explicit validation FASTA files (default: 10% of training)."))
  test_files: tuple[str, ...] = dataclasses.field(
      default=(), metadata=_help("Explicit test FASTA files, evaluated record for record as published."))
  dataset: str = dataclasses.field(
      default="Test13", metadata=_help("Name for reports (Test13 and Test88 compare with the paper's tables)."))
  max_len: int = dataclasses.field(default=1000, metadata=_help("Pad or cut sequences to this length.", lower=1))
  fractions: tuple[float, float, float] = dataclasses.field(default=(0.8, 0.1, 0.1), metadata={"flag": None})
  on_conflict: str = dataclasses.field(default="drop", metadata={"flag": None})
  structure_cache: str | None = dataclasses.field(
      default_factory=default_structure_cache,
      metadata=_help("Directory caching ViennaRNA structures (default: $RCL_CACHE_DIR or ~/.cache/rcl/structures)."))
  fold_workers: int = dataclasses.field(
      default=0, metadata=_help("Processes folding structures (0: one per CPU).", lower=0))
  holdout_families: float = dataclasses.field(
      default=0.0, metadata=_help("Share of Rfam families removed from every split to be met as novel sequences "
                                  "(half choose the novelty score and threshold, half test them; 0: none).",
                                  lower=0.0))

  def resolved(self, data_dir: str) -> DataConfig:
    """The same with relative FASTA paths taken relative to `data_dir`."""
    def resolve(paths):
      return tuple(p if os.path.isabs(p) else os.path.join(data_dir, p) for p in paths)
    return dataclasses.replace(self, files=resolve(self.files), train_files=resolve(self.train_files),
                               val_files=resolve(self.val_files), test_files=resolve(self.test_files))

  def __post_init__(self):
    if self.on_conflict not in ON_CONFLICT:
      raise ValueError(f"on_conflict must be one of {ON_CONFLICT}, got {self.on_conflict!r}")


@dataclasses.dataclass(frozen=True)
class ArchConfig:
  """Training settings of one architecture family (CNN or RNN); the rest is shared (`FitConfig`)."""
  epochs: int = dataclasses.field(default=100, metadata=_help("Training epochs.", lower=1))
  ema_decay: float = dataclasses.field(
      default=FitConfig.ema_decay,
      metadata=_help("Per-step decay of a moving average of the parameters that is validated, selected and "
                     "kept instead of the raw ones (0: off, the paper).", lower=0.0))
  clip_norm: float = dataclasses.field(
      default=FitConfig.clip_norm,
      metadata=_help("Clip gradients to this global norm before Adam (0: no clipping, the paper).", lower=0.0))

  def __post_init__(self):
    FitConfig(epochs=self.epochs, ema_decay=self.ema_decay, clip_norm=self.clip_norm)  # validates them


@dataclasses.dataclass(frozen=True)
class CollabConfig:
  """The collaborative MLPs of Table 2 and how they learn."""
  specs: tuple[str, ...] = dataclasses.field(
      default=(), metadata=_help("Collaborative models, e.g. 'LD(A)+LD(E)' (several: comma-separated).",
                                 flag="collab"))
  epochs: int = dataclasses.field(default=100, metadata=_help("Epochs of each collaborative MLP.", lower=1))
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
  selection: str = dataclasses.field(
      default="best_val_accuracy",
      metadata=_help("Model selection rule of the collaborative MLPs.", choices=SELECTION_RULES))
  flank_copies: int = dataclasses.field(
      default=0, metadata=_help(
          "Flanked copies of the training split (drawn as the components' training flanks, --augment_flanks) "
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


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  """Everything that defines a run; written to `workdir/config.json`.

  Attributes:
    workdir: output directory (config, vocabulary, histories, checkpoints, results.json, report.md).
    seed: seeds the split, initialisation, shuffles and noise.
    models: component monikers to train (A-G).
    data: the sequences and their split.
    hyper: architecture hyper-parameters (regularisation level lambda and widths).
    fit: training settings shared by every model (batch, learning rate, selection; see FitConfig).
    cnn, rnn: per architecture, epochs, parameter averaging and gradient clipping.
    rnn_buckets: padded lengths of the RNN's length buckets (empty: pad to max_len).
    cnn_buckets: the same for a CNN with a pooled head (`rcl.models.cnn`; a Flatten head pads to max_len).
    data_parallel: split each batch over all local devices.
    collab: the collaborative models.
    analysis: joint learning and feature analysis.
    sweep: the regularisation sweep.
    boundary: the boundary-noise evaluation.
    components_from: another workdir whose trained components are reused (read only) when they are
      identical to the ones this run asks for (e.g. the feature analysis of an already trained profile).
  """
  workdir: str = dataclasses.field(default="runs/default", metadata=_help("Output directory; rerun to resume."))
  seed: int = dataclasses.field(default=0, metadata=_help("Seed of the split, initialisation, shuffles and noise."))
  models: tuple[str, ...] = dataclasses.field(default=("A",), metadata=_help("Component monikers to train (A-G)."))
  data: DataConfig = dataclasses.field(default_factory=DataConfig, metadata={"prefix": ""})
  hyper: monikers.Hyper = dataclasses.field(default_factory=monikers.Hyper, metadata={"prefix": ""})
  fit: FitConfig = dataclasses.field(default_factory=FitConfig, metadata={"prefix": ""})
  cnn: ArchConfig = dataclasses.field(default_factory=lambda: ArchConfig(epochs=500), metadata={"prefix": "cnn_"})
  rnn: ArchConfig = dataclasses.field(default_factory=lambda: ArchConfig(epochs=220), metadata={"prefix": "rnn_"})
  rnn_buckets: tuple[int, ...] = dataclasses.field(
      default=(48, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320, 384, 512, 768, 1000),
      metadata=_help("Padded lengths of the RNN's length buckets (those above --max_len are dropped and "
                     "--max_len added; empty: pad every batch to --max_len, the paper's way).", lower=1))
  cnn_buckets: tuple[int, ...] = dataclasses.field(
      default=(64, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024),
      metadata=_help("Padded lengths of a pooled-head CNN's length buckets (--cnn_head=max or max_mean; those "
                     "above --max_len are dropped and --max_len added). A Flatten head pads to --max_len.",
                     lower=1))
  data_parallel: bool = dataclasses.field(default=False, metadata=_help("Split batches over all local devices."))
  collab: CollabConfig = dataclasses.field(default_factory=CollabConfig, metadata={"prefix": "collab_"})
  analysis: AnalysisConfig = dataclasses.field(default_factory=AnalysisConfig, metadata={"prefix": ""})
  sweep: SweepConfig = dataclasses.field(default_factory=SweepConfig, metadata={"prefix": "sweep_"})
  boundary: BoundaryConfig = dataclasses.field(default_factory=BoundaryConfig, metadata={"prefix": "boundary_"})
  novelty: NoveltyConfig = dataclasses.field(default_factory=NoveltyConfig, metadata={"prefix": "novelty_"})
  components_from: str | None = dataclasses.field(
      default=None, metadata=_help("Another workdir whose trained components are reused, read only, where they "
                                   "are identical to the ones asked for (same model, data split and training "
                                   "settings); others train here."))

  def __post_init__(self):
    chosen = {m.name for m in monikers.parse_monikers(self.models)}
    needed = combine.components(list(self.collab.specs))
    if self.analysis.cca_trials > 0:
      needed += [m for m in self.analysis.cca_pair if m not in needed]
    absent = [m for m in needed if m not in chosen]
    if absent:
      raise ValueError(f"collaborative models / feature analysis need component(s) {absent}: add them to --models")
    if self.collab.flank_copies and not self.fit.augment_flanks:
      raise ValueError("--collab_flank_copies draws its flanks as --augment_flanks does: set --augment_flanks")

  def bucket_lengths(self, arch: str | None) -> tuple[int, ...] | None:
    """The padded lengths an architecture's batches use: the RNN's buckets, a pooled-head CNN's buckets, a
    Flatten-head CNN's fixed width (None)."""
    if arch == "rnn":
      return batching.bucket_lengths(self.rnn_buckets, self.data.max_len)
    if arch == "cnn" and self.hyper.cnn_head != "flatten":
      return batching.bucket_lengths(self.cnn_buckets, self.data.max_len)
    return None

  def fit_for(self, arch: str | None, epochs: int | None = None) -> FitConfig:
    """The shared training settings with architecture `arch`'s ('cnn', 'rnn'; None: neither, e.g. the
    collaborative MLP, which learns from features and so gets no training flanks) epochs, averaging,
    clipping and buckets, and this run's seed."""
    settings = {"cnn": self.cnn, "rnn": self.rnn}.get(arch)
    per_arch = dataclasses.asdict(settings) if settings is not None else {"augment_flanks": 0.0}
    if epochs is not None:
      per_arch["epochs"] = epochs
    return dataclasses.replace(self.fit, **per_arch, seed=self.seed, bucket_lengths=self.bucket_lengths(arch))


def from_dict(cls, values: dict):
  """Rebuilds a (nested) configuration dataclass from `dataclasses.asdict` output (e.g. config.json);
  lists become tuples; unknown keys are refused."""
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(values) - set(fields))
  if unknown:
    raise ValueError(f"unknown {cls.__name__} setting(s) {unknown}")
  out = {}
  for name, value in values.items():
    nested = _nested_class(fields[name])
    out[name] = from_dict(nested, value) if nested is not None and isinstance(value, dict) else _tuples(value)
  return cls(**out)


def _nested_class(field: dataclasses.Field):
  """The dataclass a field holds (from its default), or None for a plain value."""
  if field.default_factory is not dataclasses.MISSING:
    sample = field.default_factory()
  else:
    sample = field.default
  return type(sample) if dataclasses.is_dataclass(sample) else None


def _tuples(value):
  return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
