"""Labelled evaluation of a model bundle on FASTA records (`rcl evaluate`)."""
