"""The dispatch package's exceptions."""

from __future__ import annotations


class DispatchError(Exception):
    """Base of every error the dispatcher raises on purpose."""


class ConfigError(DispatchError):
    """A deadline or routing table that cannot be used; the message names file and key."""


class TransitionError(DispatchError):
    """A case action that is not allowed from the case's current status."""

    def __init__(
        self, message: str, *, status: str | None = None, action: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.action = action


class OpenTasks(TransitionError):
    """A joint case closed while some of its department tasks are not done."""

    def __init__(self, case_id: int, status: str, open_tasks: list[str]) -> None:
        super().__init__(
            f"case {case_id} has tasks not done: {open_tasks}; close it when they are,"
            " or give a reason (duty commander)",
            status=status,
            action="close",
        )
        self.open_tasks = open_tasks


class ActionInputError(DispatchError, ValueError):
    """A case action given a missing or wrong value; names the field, the value and what
    was expected."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(f"{field}: {value!r}, expected {expected}")
        self.field = field
        self.value = value
        self.expected = expected


class PermissionDenied(DispatchError):
    """A role that may not take this action on this case."""

    def __init__(self, role: str, action: str, needs: str | None = None) -> None:
        why = f" (only {needs})" if needs else ""
        super().__init__(f"role {role!r} may not {action!r} this case{why}")
        self.role = role
        self.action = action


class CaseNotFound(DispatchError):
    """No case with that id."""


class CalendarNotCovered(ConfigError):
    """A working-time deadline or a start-up in a year the working calendar lacks."""

    def __init__(self, year: int, covered: str) -> None:
        super().__init__(
            f"工作日历未覆盖 {year} 年 / the working calendar does not cover {year} "
            f"(it covers {covered}): add {year} to calendar.yaml (docs/dispatch.md)"
        )
        self.year = year
