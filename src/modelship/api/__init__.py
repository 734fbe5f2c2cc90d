"""The Modelship API: pydantic models of the custom resources and the CRDs generated from them."""

from modelship.api.v1alpha1 import GROUP, VERSION

__all__ = ["GROUP", "VERSION"]
