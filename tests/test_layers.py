"""The import structure: no module of rcl/ imports from a layer above its own, in the order BUILD.md declares."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
DECLARATION = "Layer order:"


def declared_layers() -> list[set[str]]:
  """BUILD.md's layer order, bottom first: sets of names under rcl/ (packages or top-level modules)."""
  text = (ROOT / "BUILD.md").read_text()
  start = text.index(DECLARATION) + len(DECLARATION)
  line = " ".join(text[start:text.index("\n\n", start)].split())
  line = line.split("→ entry points")[0]
  return [{n.strip().strip("`").rstrip(".") for n in group.split(",")} for group in line.split("→")]


def layer_of(module: str, layers: list[set[str]]) -> int | None:
  parts = module.split(".")
  if parts[0] != "rcl" or len(parts) < 2:
    return None
  return next((i for i, names in enumerate(layers) if parts[1] in names), None)


def imported(path: pathlib.Path) -> list[str]:
  """The rcl modules a file imports (at any depth, deferred imports included)."""
  names = []
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      names += [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
      names += [f"{node.module}.{a.name}" if node.module == "rcl" else node.module for a in node.names]
  return [n for n in names if n.startswith("rcl.")]


def test_every_module_has_a_declared_layer():
  layers = declared_layers()
  assert len(layers) >= 6, layers
  modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "rcl").rglob("*.py")}
  missing = sorted(m for m in modules if m != "rcl.__init__" and layer_of(m, layers) is None)
  assert not missing, f"modules in no layer of BUILD.md's declaration: {missing}"


def test_no_module_imports_from_a_layer_above_its_own():
  layers = declared_layers()
  upward = []
  for path in sorted((ROOT / "rcl").rglob("*.py")):
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    own = layer_of(module, layers)
    for name in imported(path):
      theirs = layer_of(name, layers)
      if own is not None and theirs is not None and theirs > own:
        upward.append(f"{module} (layer {own}) imports {name} (layer {theirs})")
  assert not upward, "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path):
  """The checker itself: a made-up data module importing the experiment layer is flagged."""
  layers = declared_layers()
  fake = tmp_path / "fake.py"
  fake.write_text("from rcl.experiment import pipeline\n")
  assert layer_of("rcl.data.fake", layers) < layer_of(imported(fake)[0], layers)
  assert re.fullmatch(r"rcl\.experiment", imported(fake)[0])


def test_the_layout_section_names_every_module():
  """BUILD.md's layout section matches the tree: every module of rcl/ and experiments/ is named there."""
  text = (ROOT / "BUILD.md").read_text()
  layout = text[text.index("## Layout"):text.index("## Design choices")]
  files = [p for d in ("rcl", "experiments") for p in (ROOT / d).rglob("*.py") if p.name != "__init__.py"
           and "pretrained" not in p.parts]
  missing = sorted(str(p.relative_to(ROOT)) for p in files
                   if p.name not in layout and f"{p.parent.name}/{p.name}" not in layout)
  assert not missing, f"modules BUILD.md's layout section does not name: {missing}"
