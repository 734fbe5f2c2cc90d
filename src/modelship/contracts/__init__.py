"""Contracts between processes: one pydantic model per boundary, imported by both sides.

The operator starts trainer, inference-server and acceptance pods and reads what they report;
each of those exchanges (the pod's environment, the termination message, the drift report) is a
model defined here, in a low layer that depends only on `api`. A writer and a reader that both
import the same model cannot drift apart without a type error or a failing test.
"""
