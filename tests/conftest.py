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
    st.cache_resource.clear()
    yield


# --- the bundled data every back-end test file starts from (one loader: models.loader) -----------
SAMPLE_CSV = __import__("pathlib").Path(__file__).resolve().parent.parent / "sample_projects" / "applications.csv"


@pytest.fixture(scope="session")
def ref():
    """The bundled reference tables."""
    from evaluator.reference import load_reference

    return load_reference()


@pytest.fixture(scope="session")
def scenario():
    """The bundled 2026 default scenario."""
    from models.scenario import default_scenario

    return default_scenario()


@pytest.fixture(scope="session")
def sample_apps(ref):
    """The 27 bundled sample applications (all valid)."""
    from models.loader import load_applications

    res = load_applications(SAMPLE_CSV, ref=ref)
    assert not res.problems, [p.message() for p in res.problems]
    return tuple(res.applications)


@pytest.fixture(scope="session")
def apps(sample_apps):
    """Alias of :func:`sample_apps` (a test module may define its own ``apps``)."""
    return sample_apps


@pytest.fixture(scope="session")
def ev(sample_apps, scenario, ref):
    """The samples evaluated under the default scenario."""
    from evaluator.evaluate import evaluate

    return evaluate(sample_apps, scenario, ref)


@pytest.fixture
def fresh_app(monkeypatch, tmp_path):
    """The app driven by AppTest through its entry point, with its own scenario store (so no
    draft of another test is restored), after its first run."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)
    monkeypatch.setenv("EVALUATOR_STORE", str(tmp_path / "store.sqlite3"))
    at = AppTest.from_file(str(root / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
