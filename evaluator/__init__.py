"""Overseas critical-mineral project evaluator.

Pure computation for Korea's overseas critical-mineral fund officers: cash flows, finance
metrics, country risk, supply diversification, scoring and budget allocation. Nothing in
this package imports streamlit; the UI (``app.py``, ``app_pages/``) and the CLI
(``python -m evaluator``) only call it.
"""

__version__ = "0.1.0"
