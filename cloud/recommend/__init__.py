"""Recommendations: where to charge now (docs/recommend.md)."""
