"""One error family: every exception the evaluator raises on purpose derives from
:class:`evaluator.errors.EvaluatorError` through its kind, and the CLI turns each of them into one
``error:`` line and exit status 2, never "internal error" (which is kept for real bugs)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import evaluator
import models
from evaluator import errors
from evaluator.cli import main

KINDS = (errors.InputError, errors.DataError, errors.SettingsError, errors.SolverError, errors.RecordStoreError)


def _project_exceptions() -> list[type[BaseException]]:
    """Every exception class defined in evaluator/ and models/ (the CLI package included)."""
    found = {}
    for pkg in (evaluator, models):
        names = [pkg.__name__] + [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
                                  if not m.name.endswith("__main__") and ".data." not in m.name]
        for name in names:
            module = importlib.import_module(name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == name:
                    found[f"{name}.{cls.__qualname__}"] = cls
    return [found[k] for k in sorted(found)]


EXCEPTIONS = _project_exceptions()


def test_every_project_exception_is_in_the_family():
    assert len(EXCEPTIONS) >= 26 + 6   # the classes found by the review (26 in evaluator/ and models/) and the base with its kinds
    outside = [c.__qualname__ for c in EXCEPTIONS if not issubclass(c, errors.EvaluatorError)]
    assert outside == []
    # each class other than the base belongs to exactly one kind (CliError: the command line itself)
    for cls in EXCEPTIONS:
        if cls is errors.EvaluatorError or cls in KINDS or cls.__name__ == "CliError":
            continue
        assert sum(issubclass(cls, k) for k in KINDS) == 1, cls


def _instance(cls: type[BaseException]) -> BaseException:
    """One instance of ``cls`` saying which data is wrong (constructors differ by class)."""
    from models.application import NumberError, Problem, ValidationError

    if issubclass(cls, ValidationError):
        return cls([Problem(application_id="X-1", field="head_grade", rule="must be a number", value="abc", row=2)])
    if issubclass(cls, NumberError):
        return cls("problem_not_number")
    params = list(inspect.signature(cls.__init__).parameters)[1:]
    if params[:1] == ["message"] and len(params) >= 2:           # AllocationInfeasible(message, conflicts)
        return cls("countries.csv: the test data is wrong", ["budget fund_krw_bn"])
    return cls("countries.csv: the test data is wrong")


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda c: c.__qualname__)
def test_the_cli_gives_one_error_line_for_every_kind(cls, monkeypatch, capsys):
    exc = _instance(cls)

    def fail(args):
        raise exc

    from evaluator.cli import evaluate
    monkeypatch.setattr(evaluate, "run", fail)
    monkeypatch.setitem(__import__("evaluator.cli", fromlist=["COMMANDS"]).COMMANDS, "evaluate",
                        ("", evaluate.add_arguments, fail))
    code = main(["evaluate", "any.csv"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and "internal error" not in err[0], err
    assert str(exc).splitlines()[0] in err[0]


def test_a_bug_is_still_an_internal_error(monkeypatch, capsys):
    from evaluator import cli

    def fail(args):
        raise KeyError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "evaluate", ("", cli.evaluate.add_arguments, fail))
    monkeypatch.delenv("EVALUATOR_DEBUG", raising=False)
    assert main(["evaluate", "any.csv"]) == 2
    assert "internal error" in capsys.readouterr().err


def test_missing_reference_table_names_the_table_not_internal_error(tmp_path, monkeypatch, capsys):
    """A broken reference table at start-up is the data's error, named, with exit status 2."""
    from evaluator import reference

    def broken(*args, **kwargs):
        raise reference.ReferenceDataError("minerals.csv: missing column 'price_base'")

    monkeypatch.setattr(reference, "load_reference", broken)
    assert main(["evaluate", "sample_projects/applications.csv"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: minerals.csv: missing column 'price_base'"]
