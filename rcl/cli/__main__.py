"""`python -m rcl.cli`: the installed `rcl` command."""

from rcl.cli import console

console()
