"""Stage 2, prediction: featurisers and learners that estimate each model's success per query."""
