"""Tests of the terminal app (Pilot, snapshots, tmux)."""
