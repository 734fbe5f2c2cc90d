"""Leadership (`modelship.operator.ha`): the Lease decision as a table, on explicit times.

Faked: nothing for `lease.decide` (pure); the elector's API calls are answered by the test.
"""
