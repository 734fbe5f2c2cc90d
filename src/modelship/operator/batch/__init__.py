"""The BatchPrediction controller: resolve and pin the version, plan, score shards, assemble.

controller · observe (the reads) · observation (their types) · resolve (version and approval,
pure) · decide (pure) · builders (the three Jobs, pure) · apply (the writes, status once,
Events).
"""
