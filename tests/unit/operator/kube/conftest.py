"""The shared plumbing (`modelship.operator.kube`): the pod skeleton and catalog access.

Faked: nothing; these are pure builders, checked on the objects they return.
"""
