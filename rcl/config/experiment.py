"""The whole configuration of a run, nested and typed, and its rebuilding from config.json."""

from __future__ import annotations

import dataclasses

from rcl.collab import combine
from rcl.config import fields
from rcl.config.data import DataConfig
from rcl.config.fields import field_help as _help
from rcl.config.seeds import Seeds
from rcl.config.stages import AnalysisConfig, BoundaryConfig, CollabConfig, NoveltyConfig, SweepConfig
from rcl.data import batching
from rcl.models import monikers
from rcl.train.fit_config import FitConfig


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  """Everything that defines a run; written to `workdir/config.json`.

  Attributes:
    workdir: output directory (config, vocabulary, histories, checkpoints, results.json, report.md).
    seed: seeds the split, initialisation, shuffles, noise and the collaborative MLPs, and the evaluations'
      own draws.
    seeds: a seed of its own for any of those training sources (`rcl.config.seeds`).
    models: component monikers to train (A-G).
    data: the sequences and their split.
    hyper: architecture hyper-parameters (regularisation level lambda and widths).
    cnn, rnn: how each architecture family trains (`FitConfig`: epochs, batch, learning rate, selection,
      averaging, clipping, training flanks; the collaborative MLP's is `collab.fit`).
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
  seed: int = dataclasses.field(default=0, metadata=_help("Seed of everything random (split, initialisation, order, "
                                                          "noise, collaborative MLPs, evaluation copies) unless a "
                                                          "source has its own --<source>_seed."))
  seeds: Seeds = dataclasses.field(default_factory=Seeds, metadata={"prefix": ""})
  models: tuple[str, ...] = dataclasses.field(default=("A",), metadata=_help("Component monikers to train (A-G)."))
  data: DataConfig = dataclasses.field(default_factory=DataConfig, metadata={"prefix": ""})
  hyper: monikers.Hyper = dataclasses.field(default_factory=monikers.Hyper,
                                            metadata={"prefix": "", "fields": fields.HYPER})
  cnn: FitConfig = dataclasses.field(default_factory=lambda: FitConfig(epochs=500),
                                     metadata={"prefix": "cnn_", "fields": fields.FAMILY})
  rnn: FitConfig = dataclasses.field(default_factory=lambda: FitConfig(epochs=220),
                                     metadata={"prefix": "rnn_", "fields": fields.FAMILY})
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
    if self.collab.flank_copies and not (self.cnn.augment_flanks or self.rnn.augment_flanks):
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
    """How a model of architecture `arch` trains ('cnn', 'rnn'; None: the collaborative MLP), with its
    buckets, its seeds (a component's initialisation, order and noise seeds, named only where they are not
    --seed; the collaborative MLP's one seed) and, given `epochs` (the sweep's), those instead of its own."""
    family = {"cnn": self.cnn, "rnn": self.rnn}[arch] if arch is not None else self.collab.fit
    if arch is None:
      seeds = {"seed": self.seed_of("collab")}
    else:
      seeds = {"seed": self.seed, **{f"{s}_seed": self.seed_of(s) if self.seed_of(s) != self.seed else None
                                     for s in ("init", "order", "noise")}}
    return dataclasses.replace(family, **seeds, bucket_lengths=self.bucket_lengths(arch),
                               epochs=family.epochs if epochs is None else epochs)

  def seed_of(self, source: str) -> int:
    """The seed of a training source ('split', 'init', 'order', 'noise', 'collab')."""
    return self.seeds.of(source, self.seed)

  def fits(self) -> tuple[FitConfig, ...]:
    """Every family's training settings (CNN, RNN, collaborative MLP)."""
    return self.cnn, self.rnn, self.collab.fit

  @property
  def eval_batch_size(self) -> int:
    """The batch of evaluations that span the families (boundary noise, calibration, bundles): the smallest
    family's (one flag sets them all)."""
    return min(f.eval_batch_size for f in self.fits())


def read(values: dict) -> ExperimentConfig:
  """The configuration a run's config.json holds (its 'command' set aside by the caller), including one
  written before the families had a FitConfig each (`_per_family`)."""
  return from_dict(ExperimentConfig, _per_family(values))


def _per_family(values: dict) -> dict:
  """An older config.json's one shared 'fit' with per-family epochs, averaging and clipping ('cnn', 'rnn';
  the collaborative MLP's epochs and selection in 'collab') as one FitConfig per family."""
  if "fit" not in values:
    return values
  values = dict(values)
  shared = values.pop("fit")
  for family in ("cnn", "rnn"):
    values[family] = {**shared, **values.get(family, {})}
  collab = dict(values.get("collab", {}))
  own = {k: collab.pop(k) for k in ("epochs", "selection") if k in collab}
  values["collab"] = dict(collab, fit={**shared, "augment_flanks": 0.0, **own})
  return values


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
