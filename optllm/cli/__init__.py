"""The `optllm` command: one module per subcommand over the pipeline."""
