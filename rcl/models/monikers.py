"""The paper's component monikers A-G as named configurations of the two architectures (Table 1)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn

from rcl.models import cnn, noise
from rcl.models.cnn import CNN
from rcl.models.mlp import CollabMLP
from rcl.models.rnn import RNN


@dataclasses.dataclass(frozen=True)
class Hyper:
  """Architecture hyper-parameters shared by the monikers (the paper leaves most unstated).

  Attributes:
    reg_level: lambda, which sets noise and dropout (`rcl.models.noise.rates`; paper: 1.0).
    cnn_filters: overrides every CNN moniker's filter count when set (small profiles only).
    cnn_kernel: convolution width.
    cnn_blocks: number of convolution blocks.
    cnn_head: the CNN's head ('flatten', the paper's; 'max', 'max_mean', 'window': pooled, `rcl.models.cnn`).
    cnn_head_width: the 'window' head's width in final-layer positions.
    cnn_dense: CNN dense widths after Flatten (last = LD features).
    rnn_hidden: GRU units per direction.
    rnn_attention: attention projection width.
    rnn_dense: RNN dense widths after attention pooling (last = LD features).
    compute_dtype: dtype of the convolutions', matmuls' and activations' arithmetic ("bfloat16": mixed
      precision for GPUs/TPUs and CPUs with bf16 units; parameters, optimiser, recurrent state, noise
      strengths, batch statistics, logits and features stay float32).
  """
  reg_level: float = 1.0
  cnn_filters: int | None = None
  cnn_kernel: int = 5
  cnn_blocks: int = 5
  cnn_head: str = "flatten"
  cnn_head_width: int = 8
  cnn_dense: tuple[int, ...] = (128, 64)
  rnn_hidden: int = 64
  rnn_attention: int = 128
  rnn_dense: tuple[int, ...] = (128, 64, 32)
  compute_dtype: str = "float32"

  def __post_init__(self):
    noise.check_level(self.reg_level)

  @property
  def noise(self) -> float:
    return noise.rates(self.reg_level)[0]

  @property
  def dropout(self) -> float:
    return noise.rates(self.reg_level)[1]


@dataclasses.dataclass(frozen=True)
class Moniker:
  """One standalone model of the paper's Table 1."""
  name: str
  method: str
  arch: str  # "cnn" or "rnn"
  input_kind: str  # "seq", "sec" or "seq+sec"
  filters: int | None = None  # CNN only


MONIKERS: dict[str, Moniker] = {m.name: m for m in (
    Moniker("A", "CNN (256)", "cnn", "seq", 256),
    Moniker("B", "CNN (128)", "cnn", "seq", 128),
    Moniker("C", "CNN (256) seq+sec", "cnn", "seq+sec", 256),
    Moniker("D", "CNN (256) sec", "cnn", "sec", 256),
    Moniker("E", "RNN", "rnn", "seq"),
    Moniker("F", "RNN seq+sec", "rnn", "seq+sec"),
    Moniker("G", "RNN sec", "rnn", "sec"),
)}


def parse_monikers(text: str | Sequence[str]) -> list[Moniker]:
  """'A,B,E' -> [Moniker A, B, E]; unknown names raise ValueError listing the known ones."""
  names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
  unknown = [n for n in names if n not in MONIKERS]
  if unknown:
    raise ValueError(f"unknown model moniker(s) {unknown}; known: {', '.join(MONIKERS)}")
  return [MONIKERS[n] for n in names]


def describe(moniker: Moniker, hyper: Hyper = Hyper()) -> str:
  """The moniker's method name, flagging any override of its defining hyper-parameters."""
  if moniker.arch == "cnn" and hyper.cnn_filters and hyper.cnn_filters != moniker.filters:
    return f"{moniker.method} [filters overridden: {hyper.cnn_filters}]"
  return moniker.method


def build(moniker: Moniker, num_classes: int, hyper: Hyper = Hyper(), length: int | None = None) -> nn.Module:
  """The Linen module for a moniker under the given hyper-parameters; `length` (max_len) lets a CNN's
  inference read windows narrower than its input width (`rcl.models.cnn`)."""
  if moniker.arch == "cnn":
    return CNN(num_classes=num_classes, filters=hyper.cnn_filters or moniker.filters,
               kernel_size=hyper.cnn_kernel, blocks=hyper.cnn_blocks, head=hyper.cnn_head,
               head_width=hyper.cnn_head_width,
               dense=tuple(hyper.cnn_dense),
               noise=hyper.noise, dropout=hyper.dropout, input_kind=moniker.input_kind, length=length,
               dtype=hyper.compute_dtype)
  if moniker.arch == "rnn":
    return RNN(num_classes=num_classes, hidden=hyper.rnn_hidden, attention=hyper.rnn_attention,
               dense=tuple(hyper.rnn_dense), noise=hyper.noise, dropout=hyper.dropout,
               input_kind=moniker.input_kind, dtype=hyper.compute_dtype)
  raise ValueError(f"unknown architecture {moniker.arch!r}")


def build_collaborative(num_classes: int, dense: Sequence[int], hyper: Hyper = Hyper(),
                        input_noise: float = 0.0) -> CollabMLP:
  """The collaborative MLP over combined component features, regularised at the run's level (`hyper`);
  `input_noise` matters in training only."""
  return CollabMLP(num_classes=num_classes, dense=tuple(dense), noise=hyper.noise, dropout=hyper.dropout,
                   input_noise=input_noise)
