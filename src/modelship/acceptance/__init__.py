"""Acceptance checks of a test stage, run as a Job inside the model's namespace.

The operator reads no model data (DESIGN.md): this program mounts the catalog read-only, sends
the version's held-out rows to every ready test pod, and reports the verdict through its
termination message, which the operator copies into the Deployment's status.
"""
