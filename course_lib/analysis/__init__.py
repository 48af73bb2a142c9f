"""Tools to look inside trained models: attention maps and distances, embeddings, linear probes."""
