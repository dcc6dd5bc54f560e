"""Computation behind the dashboard: paths and uploads it may touch, disk caches, projections,
retrieval presets and breakdowns. Plain functions with no Streamlit import, so they are testable
and benchmarkable without a browser."""
