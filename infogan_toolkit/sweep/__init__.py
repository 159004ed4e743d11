"""Sweeps: a grid of configuration overrides times seeds, each a normal run directory under one
sweep directory, run by a registered executor, then summarised over seeds (``infogan-tk sweep``)."""
