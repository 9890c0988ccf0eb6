"""Transports: how hub frames travel (WebSockets; the negotiate endpoint)."""
