"""The pure core: vCon parsing, validation, canonical form, typed conversion.

Nothing in here does I/O or imports gRPC; the api/ and storage/ packages
depend on this one, never the other way round.
"""
