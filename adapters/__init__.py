"""Adapters: the ports of ``application`` implemented with real (or in-memory) technology."""
