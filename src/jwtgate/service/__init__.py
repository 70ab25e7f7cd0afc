"""Use cases of the auth server: login, refresh rotation, revocation, sessions, keys, clients."""
