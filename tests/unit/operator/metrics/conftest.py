"""Operator metrics (`modelship.operator.metrics`), on a fresh registry per test.

Faked: nothing; typed statuses are passed in as the controllers would write them.
"""
