"""The batch scoring worker (`python -m modelship.batch`): plan, score a shard, assemble.

`settings` reads the operator's contract (`contracts.batch.BatchEnv`); `rows` turns a table's
rows into the v2 document online serving decodes and isolates unscorable rows; `parts` names,
writes and verifies the per-shard parts (the resume unit); `steps` runs the three steps.
"""
