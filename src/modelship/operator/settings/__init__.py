"""Operator configuration: one settings root, read from `MODELSHIP_OPERATOR_*` at startup.

The root (`OperatorSettings`) inherits its groups, each in a module of its own so each can be
read in one sitting: who acts (`leadership`), the approval webhook (`admission`), the rest
(`operator`). Everything is imported from here.
"""

from modelship.operator.settings.admission import AdmissionSettings
from modelship.operator.settings.leadership import LeadershipSettings
from modelship.operator.settings.operator import OperatorSettings
from modelship.operator.settings.prefix import PREFIX

__all__ = ["PREFIX", "AdmissionSettings", "LeadershipSettings", "OperatorSettings"]
