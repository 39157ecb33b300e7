"""The stages joined: a run, a batch, routing, comparisons and the files they write."""
