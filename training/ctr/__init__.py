"""Downstream CTR evaluation (docs/design.md, "Evaluation protocol"): does an embeddings file add information a strong ranker lacks?"""
