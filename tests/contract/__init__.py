"""The storage contract: one suite, written against the port, run on every backend."""
