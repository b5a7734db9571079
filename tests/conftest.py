"""Shared pytest fixtures."""

import pytest


@pytest.fixture(autouse=True)
def _clear_streamlit_cache():
    """st.cache_data is shared between AppTest instances in one process: start each test clean."""
    try:
        import streamlit as st
    except ImportError:  # the back-end tests do not need streamlit
        yield
        return
    st.cache_data.clear()
    yield
