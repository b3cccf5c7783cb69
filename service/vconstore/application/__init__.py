"""Use cases: what the service does, independent of gRPC and of the storage backend."""
