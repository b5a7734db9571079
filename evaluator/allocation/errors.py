"""The allocator's exceptions."""

from __future__ import annotations

from typing import Sequence

from evaluator.errors import SolverError
from evaluator.messages import Message


# ----------------------------------------------------------------------------------------------
# Exceptions
# ----------------------------------------------------------------------------------------------
class AllocationError(SolverError):
    """The optimiser failed, or its answer broke a constraint on re-check."""


class EntryValuesStopped(AllocationError):
    """:func:`entry_values` stopped because its caller asked it to (``should_stop``)."""


class AllocationTimeout(AllocationError):
    """A solver limit (time, nodes, iterations) stopped HiGHS before it found any allocation."""


class AllocationInfeasible(AllocationError):
    """No allocation satisfies the locks, caps and constraints together.

    Attributes
    ----------
    conflicts : list of str
        Names of a (small, usually minimal) set of locks, caps, constraints and budgets that
        cannot hold together. Names: ``"must fund <id>"``, ``"must not fund <id>"``,
        ``"budget <key>"`` and the names given to caps and constraints.
    conflict_messages : list of evaluator.messages.Message
        The same, as catalogue messages (``constraint_*`` codes) for the officer's language.
    header : evaluator.messages.Message
        The explanation as a catalogue message (``infeasible_*`` codes), worded by :meth:`text`;
        ``str(exc)`` is the English with the constraints' names (the command line, logs).
    """

    def __init__(self, message: str, conflicts: Sequence[str], conflict_messages: Sequence[Message] = (),
                 header: Message | None = None):
        super().__init__(message)
        self.conflicts = list(conflicts)
        self.conflict_messages = list(conflict_messages) or [Message("constraint_named", {"name": c})
                                                             for c in self.conflicts]
        self.header = header or Message("infeasible_constraints")

    def text(self, language: str = "en") -> str:
        """The explanation in ``language`` (the catalogue's wording of :attr:`header`)."""
        return self.header.text(language)
