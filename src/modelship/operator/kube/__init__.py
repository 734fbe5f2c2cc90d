"""The plumbing every controller shares: the one API client, typed views of built-in objects,
status writes, conditions, events, requeues, names and labels, and the pod skeleton."""
