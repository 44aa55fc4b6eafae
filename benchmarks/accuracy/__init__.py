"""How right, and at what cost: accuracy through the detection path, the model family's Pareto
table, the mirror average on video, and multiply-accumulates per model."""
