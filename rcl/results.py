"""results.json as types: a model's entry (what it is, how it trained, its scores) and a run's results.

Stages return these records; `write` is the one writer of results.json; readers (the report, export,
multi-seed summaries, studies) take them from `RunResults.read` or `from_json`. The study sections
(sweep, feature analysis, boundary noise, calibration, novelty) stay as the JSON their stages return.
"""

from __future__ import annotations

import dataclasses
import json

from rcl import files

SECTIONS = ("models", "ensembles", "collaborative")  # components, plain ensembles, collaborative MLPs


@dataclasses.dataclass
class Scores:
  """A model's evaluation on the validation and test splits.

  Attributes:
    val, test: metrics (`rcl.analysis.metrics.classification_metrics`).
    test_report: per-class figures and the confusion matrix of the test split.
    test_accuracy_ci: bootstrap interval of test accuracy ('low', 'high', ...).
    figures: figure kind ('confusion', 'curves') -> path relative to the workdir.
  """
  val: dict
  test: dict
  test_report: dict
  test_accuracy_ci: dict
  figures: dict


@dataclasses.dataclass
class Training:
  """How a trained model got there: its size, epochs, selection, cost and joint learning coefficient (eq. 1)."""
  parameters: int
  epochs: int
  selected_epoch: int
  selection: str
  resumed_from_epoch: int
  train_seconds_total: float
  wall_seconds: float
  joint_learning: dict


_SCORES = tuple(f.name for f in dataclasses.fields(Scores))
_TRAINING = tuple(f.name for f in dataclasses.fields(Training))


@dataclasses.dataclass
class ModelResult:
  """One model's results entry.

  Attributes:
    method: how the model is built, e.g. 'CNN (256)' or 'collaborative MLP'.
    scores: its validation and test evaluation.
    training: None for a model nothing trained (a plain ensemble).
    about: what the model is, by kind: 'arch' and 'inputs' (a component), 'members' (an ensemble), the
      feature spec and MLP settings (a collaborative model).
    comparison: a collaborative model's paired tests against its components and its ensemble.
  """
  method: str
  scores: Scores
  training: Training | None = None
  about: dict = dataclasses.field(default_factory=dict)
  comparison: dict | None = None

  def accuracy(self, split: str = "test") -> float:
    return getattr(self.scores, split)["accuracy"]

  def to_json(self) -> dict:
    out = {"method": self.method, **self.about}
    if self.training is not None:
      out.update(dataclasses.asdict(self.training))
    out.update(dataclasses.asdict(self.scores))
    if self.comparison is not None:
      out["comparison"] = self.comparison
    return out

  @classmethod
  def from_json(cls, entry: dict) -> ModelResult:
    training = Training(**{k: entry[k] for k in _TRAINING}) if "parameters" in entry else None
    about = {k: v for k, v in entry.items() if k not in (*_SCORES, *_TRAINING, "method", "comparison")}
    return cls(entry["method"], Scores(**{k: entry[k] for k in _SCORES}), training, about, entry.get("comparison"))


@dataclasses.dataclass
class RunResults:
  """One run's results.json.

  Attributes:
    dataset, seed, environment, protocol: what ran where (`rcl.report.provenance`, the data summary).
    models, ensembles, collaborative: model name -> its entry, per section (`SECTIONS`).
    studies: the later stages' sections by name, in the order they ran.
  """
  dataset: str
  seed: int
  environment: dict
  protocol: dict
  models: dict[str, ModelResult] = dataclasses.field(default_factory=dict)
  ensembles: dict[str, ModelResult] = dataclasses.field(default_factory=dict)
  collaborative: dict[str, ModelResult] = dataclasses.field(default_factory=dict)
  studies: dict[str, dict] = dataclasses.field(default_factory=dict)

  def section(self, name: str) -> dict[str, ModelResult]:
    return getattr(self, name)

  def named(self, sections: tuple[str, ...] = SECTIONS) -> list[tuple[str, ModelResult]]:
    """(name, entry) of every model in `sections`, in their order."""
    return [(name, entry) for s in sections for name, entry in self.section(s).items()]

  def entry(self, name: str) -> ModelResult | None:
    """The model of that name in any section, or None."""
    return next((e for s in SECTIONS for n, e in self.section(s).items() if n == name), None)

  def to_json(self) -> dict:
    return {"dataset": self.dataset, "seed": self.seed, "environment": self.environment, "protocol": self.protocol,
            **{s: {n: e.to_json() for n, e in self.section(s).items()} for s in SECTIONS}, **self.studies}

  @classmethod
  def from_json(cls, out: dict) -> RunResults:
    head = ("dataset", "seed", "environment", "protocol")
    sections = {s: {n: ModelResult.from_json(e) for n, e in out.get(s, {}).items()} for s in SECTIONS}
    studies = {k: v for k, v in out.items() if k not in (*head, *SECTIONS)}
    return cls(*(out[k] for k in head), **sections, studies=studies)

  @classmethod
  def read(cls, path: str) -> RunResults:
    with open(path, encoding="utf-8") as f:
      return cls.from_json(json.load(f))

  def write(self, path: str) -> None:
    """The one writer of a run's results.json (atomically, by the writing process, `rcl.files`)."""
    files.write_json(path, self.to_json())
