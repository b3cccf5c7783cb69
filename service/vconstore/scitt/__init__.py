"""The store's side of the transparency ledger: it signs a statement for every
operation (issuer.py), keeps it with the operation (the storage port's outbox),
and registers it with the ledger process over gRPC (registrar.py,
ledger_client.py)."""
