"""The transparency ledger: an append-only RFC 9162 Merkle log of COSE signed
statements that answers RFC 9942 COSE receipts. It runs as its own process
(`vconstore ledger serve`) with its own storage; the store talks to it over gRPC."""
