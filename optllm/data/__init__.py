"""Stage 1, the data: datasets, their files and formats, and the built-in and public sources."""
