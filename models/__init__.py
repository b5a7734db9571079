"""Typed domain records (applications, scenarios) and their validation."""

from models.application import Application, ByProduct, Problem, ValidationError, STAGES, ESG_CATEGORIES
from models.scenario import Scenario, ScenarioError, load_scenario, save_scenario, default_scenario
from models.loader import LoadResult, load_applications, read_table

__all__ = [
    "Application", "ByProduct", "Problem", "ValidationError", "STAGES", "ESG_CATEGORIES",
    "Scenario", "ScenarioError", "load_scenario", "save_scenario", "default_scenario",
    "LoadResult", "load_applications", "read_table",
]
