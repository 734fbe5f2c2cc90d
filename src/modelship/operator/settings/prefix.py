"""The environment prefix every group of the operator's settings is read with."""

PREFIX = "MODELSHIP_OPERATOR_"
