"""One experiment of the paper, as stages: data, components, collaborative models, analysis, sweep, report.

`pipeline.run_experiment` runs them in order; each stage is a module here and returns its part of the
results (`rcl.results`: typed model entries, and the studies' sections), which `RunResults.write` stores.
"""
