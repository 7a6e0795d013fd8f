"""Application services: the order writer and replay, built from the core and adapters."""
