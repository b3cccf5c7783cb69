"""API keys and what they may do: the key format, the scopes, and resolving a
presented key to its organisation (authenticator.py). gRPC-free; the
interceptor in api/auth_interceptor.py applies it to every call."""
