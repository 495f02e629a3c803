"""Fitting the answer ranker through the engine's own retrieval.

Training articles go into a real index (index.store.NewsIndex in a scratch folder, the model's
vectors cached on disk), and every training question is asked through qa.retrieval.Retriever,
so the features fitted on are the ones serving computes. Needs the `fit` extra (scikit-learn,
LightGBM); nothing in serving imports this package. Entry point: `python -m qa.fitting`.
"""
