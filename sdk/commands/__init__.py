"""Click commands, one module per command group."""
