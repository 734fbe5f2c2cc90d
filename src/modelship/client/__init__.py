"""Modelship from Python: what pipelines and notebooks use to follow the loop.

`modelship wait` is built on `waiting` (judge an object's status for one goal, pure) and `watch`
(follow one object through the API server's watch, never polling in a loop).
"""
