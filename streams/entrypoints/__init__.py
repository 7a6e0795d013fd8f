"""Process entry points: the CLI commands and long-running workers."""
