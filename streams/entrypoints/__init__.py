"""The ``oms`` commands (typer), one module per area; each runs in the process shell
(``streams.shell``) and takes its components from ``streams.bootstrap``."""
