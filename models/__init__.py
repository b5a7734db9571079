"""Typed domain records (applications, scenarios) and their validation."""

from models.application import ESG_CATEGORIES, STAGES, Application, ByProduct, Problem, ValidationError
from models.loader import LoadResult, load_applications, read_table
from models.scenario import Scenario, ScenarioError, default_scenario, load_scenario, save_scenario

__all__ = [
    "Application", "ByProduct", "Problem", "ValidationError", "STAGES", "ESG_CATEGORIES",
    "Scenario", "ScenarioError", "load_scenario", "save_scenario", "default_scenario",
    "LoadResult", "load_applications", "read_table",
]
