"""vconstore: a gRPC service that stores IETF vCons exactly as they were sent."""

__all__ = ["__version__"]

__version__ = "0.1.0"
