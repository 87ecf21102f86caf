"""Which bundle directory a --model names: a path, else a bundle shipped in the package (rcl/pretrained/)."""

from __future__ import annotations

import os

DEFAULT_MODEL = "test13_small"  # the shipped bundle classify and evaluate use without --model

_PRETRAINED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")


def shipped() -> list[str]:
  """The bundle directories shipped inside the package (rcl/pretrained/<name>/): DEFAULT_MODEL's first, the
  others by name."""
  if not os.path.isdir(_PRETRAINED):
    return []
  names = sorted(n for n in os.listdir(_PRETRAINED) if os.path.isfile(os.path.join(_PRETRAINED, n, "bundle.json")))
  return [os.path.join(_PRETRAINED, n) for n in sorted(names, key=lambda n: n != DEFAULT_MODEL)]


def resolve_model(model: str | None) -> str:
  """The bundle directory --model names: an existing path, else a shipped bundle's name; None is
  DEFAULT_MODEL."""
  if model is not None and os.path.exists(model):
    return model
  by_name = {os.path.basename(d): d for d in shipped()}
  if model is None:
    if DEFAULT_MODEL not in by_name:
      raise ValueError(f"no --model given and the default bundle {DEFAULT_MODEL} is not shipped in this installation")
    return by_name[DEFAULT_MODEL]
  if model not in by_name:
    raise ValueError(f"no bundle directory {model!r}, nor a shipped bundle of that name (shipped: "
                     f"{', '.join(by_name) or 'none'})")
  return by_name[model]
