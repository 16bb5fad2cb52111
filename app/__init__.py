"""regwiz engine: everything that does work, with no user interface.

Nothing under ``app`` imports textual; the TUI (``screens``), the CLI and the
tests all drive this same code. ``tests/test_architecture.py`` keeps it so.
"""

__version__ = "0.1.0"
