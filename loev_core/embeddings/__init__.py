"""Corpus embeddings: compute (batched, resumable), store (shards), index (FAISS), and in-memory waves."""
