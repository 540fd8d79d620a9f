"""The server's configuration and security (tokens, roles)."""
