"""`modelship demo`: the whole loop on the local cluster, narrated as it happens."""
