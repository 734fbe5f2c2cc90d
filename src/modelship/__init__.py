"""Modelship: a Kubernetes operator that runs the MLOps loop as custom resources."""

__version__ = "0.1.0"
