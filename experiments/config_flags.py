"""Command-line flags made from a configuration dataclass's fields, and the configuration made back.

One flag per leaf field: named by the field (with the prefix its enclosing field's metadata gives) or by
metadata 'flag' ('flag': None: no flag, the default stands); help, 'choices' and 'lower' bound from its
metadata, or from its enclosing field's metadata 'fields' (field name -> metadata) for a dataclass defined
without flag metadata (`rcl.config.fields`); default from the dataclass. Fields that name the same flag
share it (they must share their default too); a shared field whose metadata says 'override' also gets a
flag of its own, named as an unshared field would be (--rnn_augment_flanks beside --augment_flanks), which
when given wins for that configuration alone. Lists are comma-separated.
"""

from __future__ import annotations

import dataclasses
import types
import typing

from absl import flags


def _fields(instance, described: dict | None):
  """(field, its flag metadata, value) of every field of the dataclass `instance`."""
  for field in dataclasses.fields(instance):
    yield field, {**field.metadata, **(described or {}).get(field.name, {})}, getattr(instance, field.name)


def _leaves(instance, prefix: str = "", described: dict | None = None):
  """(flag name, metadata, type, default value) of every leaf field under `instance`, and nested ones."""
  hints = typing.get_type_hints(type(instance))
  for field, meta, value in _fields(instance, described):
    if dataclasses.is_dataclass(value):
      yield from _leaves(value, prefix + meta.get("prefix", field.name + "_"), meta.get("fields"))
    elif meta.get("flag", prefix + field.name) is not None:
      yield meta.get("flag", prefix + field.name), meta, hints[field.name], value
      if meta.get("override"):
        own = {k: v for k, v in meta.items() if k not in ("flag", "override", "help")}
        own["help"] = f"--{meta['flag']} for the {prefix.rstrip('_')} models alone (unset: that flag's value)."
        yield _own_flag(prefix, field.name, meta), own, hints[field.name], None


def _own_flag(prefix: str, name: str, meta: dict) -> str:
  """The flag of a shared field's per-configuration override ('override' metadata)."""
  own = prefix + name
  if own == meta["flag"]:
    raise ValueError(f"--{own}: an overridable shared flag needs a prefix for its own flags")
  return own


def _item_type(kind):
  """tuple[int, ...] -> int; int | None -> int; int -> int."""
  args = [a for a in typing.get_args(kind) if a is not type(None) and a is not Ellipsis]
  return args[0] if args else kind


def _is_sequence(kind) -> bool:
  return typing.get_origin(kind) is tuple


def _is_optional(kind) -> bool:
  return isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind)


def define(default) -> None:
  """Defines a flag for every leaf field of the configuration instance `default` (its values are the
  flags' defaults)."""
  defined = {}
  for name, meta, kind, value in _leaves(default):
    if name in defined:  # one flag for a setting several configurations share (e.g. every family's batch)
      if defined[name] != value:
        raise ValueError(f"--{name} stands for fields whose defaults differ ({defined[name]!r}, {value!r})")
      continue
    defined[name] = value
    help_text = meta.get("help", name)
    item, lower = _item_type(kind), meta.get("lower")
    if _is_sequence(kind):
      flags.DEFINE_list(name, [str(v) for v in value], help_text)
      if item is not str:
        bound = f" >= {lower}" if lower is not None else ""
        flags.register_validator(name, _list_validator(item, lower), f"--{name} takes {item.__name__} values{bound}")
    elif "choices" in meta:
      flags.DEFINE_enum(name, value, list(meta["choices"]), help_text)
    elif item is bool:
      flags.DEFINE_bool(name, value, help_text)
    elif item is int:
      flags.DEFINE_integer(name, value, help_text, lower_bound=lower)
    elif item is float:
      flags.DEFINE_float(name, value, help_text, lower_bound=lower)
    else:
      flags.DEFINE_string(name, value, help_text)


def _list_validator(item, lower):
  def valid(values):
    try:
      parsed = [item(v) for v in values]
    except ValueError:
      return False
    return lower is None or all(v >= lower for v in parsed)
  return valid


def build(default, values=None):
  """The configuration of `default`'s type with every flagged field taken from the parsed flags."""
  values = values if values is not None else flags.FLAGS
  return _build(default, "", values, None)


def _build(instance, prefix: str, values, described: dict | None):
  hints = typing.get_type_hints(type(instance))
  out = {}
  for field, meta, value in _fields(instance, described):
    if dataclasses.is_dataclass(value):
      out[field.name] = _build(value, prefix + meta.get("prefix", field.name + "_"), values, meta.get("fields"))
      continue
    name = meta.get("flag", prefix + field.name)
    if name is None:
      out[field.name] = value
      continue
    if meta.get("override") and values[_own_flag(prefix, field.name, meta)].value is not None:
      name = _own_flag(prefix, field.name, meta)
    raw, kind = values[name].value, hints[field.name]
    if _is_sequence(kind):
      raw = tuple(_item_type(kind)(v) for v in raw)
    elif _is_optional(kind) and raw == "":
      raw = None
    out[field.name] = raw
  return dataclasses.replace(instance, **out)
