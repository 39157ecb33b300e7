"""OptLLM terminal app: a thin Textual layer over the `optllm` library."""
