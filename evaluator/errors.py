"""The project's exceptions: one family, one subclass per kind of failure.

Every exception the evaluator raises on purpose derives from :class:`EvaluatorError`, through the
kind that says what is wrong:

- :class:`InputError`: an application, a file or a table the officer gave (applications, customs
  extracts, price decks, study figures);
- :class:`DataError`: the bundled reference data, or the officer's edited copy of it;
- :class:`SettingsError`: the scenario, the weights, the locks or the options of a command;
- :class:`SolverError`: the optimiser could not give an answer (infeasible, stopped by a limit);
- :class:`RecordStoreError`: the decision store (locked decisions, a tampered file).

The kinds also derive from the built-in class the code raised before (``ValueError`` or
``RuntimeError``), so an ``except ValueError`` written earlier still catches them. The CLI and the
app catch :class:`EvaluatorError` at their boundary (one ``error:`` line naming the data); any
other exception there is a bug ("internal error").

This module imports nothing of the project, so ``models`` and ``evaluator`` both import it
without a cycle.
"""

from __future__ import annotations

__all__ = ["EvaluatorError", "InputError", "DataError", "SettingsError", "SolverError", "RecordStoreError"]


class EvaluatorError(Exception):
    """Base of every exception the evaluator raises on purpose (bad input, data or settings)."""


class InputError(EvaluatorError, ValueError):
    """An application, a file or a table the officer gave cannot be used as it is."""


class DataError(EvaluatorError, ValueError):
    """A bundled reference table (or the officer's edited copy) is missing or malformed."""


class SettingsError(EvaluatorError, ValueError):
    """The scenario, the weights, the locks or a command's options are not valid."""


class SolverError(EvaluatorError, RuntimeError):
    """The optimiser could not give an allocation (no feasible one, or a limit stopped it first)."""


class RecordStoreError(EvaluatorError):
    """The decision store refused an operation or failed its integrity check."""
