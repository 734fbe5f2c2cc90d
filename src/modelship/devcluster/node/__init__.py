"""The local node: a small kubelet that runs the project's pods as local processes."""
