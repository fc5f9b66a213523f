"""Downstream CTR evaluation (DESIGN §4): does an embeddings file add information a strong ranker lacks?"""
