"""The trainer a TrainingJob's pod runs: load data, fit, evaluate, publish to the catalog.

Entry point `python -m modelship.training`; exit codes and output in `modelship.training.main`.
"""
