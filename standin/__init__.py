"""The local Discord stand-in: an API v10 server (REST, gateway, interactions, state, limits) and its control API."""
