"""Declaring seeds: ``@versioning.seed("development")`` and the registry that keeps them;
cheap to import (no SQLAlchemy ORM, no Alembic), as every extension creates a registry."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _errors as errors
from .._ledgers.seeds import MAX_NAME

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("flask_versioning")


@dataclasses.dataclass(frozen=True)
class SeedHook:
    """One registered seed: a function and the environments it is for."""

    name: str
    environments: tuple[str, ...]
    function: Callable[[Session], Any]
    order: int
    always: bool
    bind: str | None


class SeedRegistry:
    """The seed hooks of one :class:`~flask_versioning.Versioning` object, shared by its apps."""

    def __init__(self) -> None:
        self._hooks: dict[str, SeedHook] = {}
        #: Set once an app has auto-seeded from this registry; a hook registered later missed it.
        self.auto_seeded = False

    def decorator(
        self,
        environments: tuple[Any, ...],
        *,
        name: str | None,
        order: int,
        always: bool,
        bind: str | None,
    ) -> Callable[[F], F]:
        """Check the arguments now, so that a bare ``@versioning.seed`` fails at the decorator
        line saying what to write; register the function later."""
        if environments and callable(environments[0]):
            raise errors.SeedError(
                f"@seed needs the environments the seed is for, e.g. "
                f"@versioning.seed('development', 'testing') above "
                f"{getattr(environments[0], '__name__', 'the function')}()"
            )
        if not environments:
            raise errors.SeedError(
                "@seed needs at least one environment, e.g. @versioning.seed('development')"
            )
        for environment in environments:
            if not isinstance(environment, str) or not environment.strip():
                raise errors.SeedError(
                    f"seed environments must be non-empty strings, not {environment!r}"
                )
        if isinstance(order, bool) or not isinstance(order, int):
            raise errors.SeedError(f"seed order must be an integer, not {order!r}")
        if bind is not None and not isinstance(bind, str):
            raise errors.SeedError(f"seed bind must be a database name or None, not {bind!r}")
        envs = tuple(dict.fromkeys(e.strip() for e in environments))

        def register(function: F) -> F:
            self.add(function, envs, name=name, order=order, always=always, bind=bind)
            return function

        return register

    def add(
        self,
        function: Callable[[Session], Any],
        environments: tuple[str, ...],
        *,
        name: str | None,
        order: int,
        always: bool,
        bind: str | None = None,
    ) -> None:
        seed_name = name if name is not None else getattr(function, "__name__", None)
        if not isinstance(seed_name, str) or not seed_name or len(seed_name) > MAX_NAME:
            raise errors.SeedError(
                f"seed name must be a string of 1 to {MAX_NAME} characters, not {seed_name!r}"
            )
        if seed_name in self._hooks:
            other = self._hooks[seed_name].function
            module = getattr(other, "__module__", None) or "?"
            where = f"{module}.{getattr(other, '__qualname__', repr(other))}"
            raise errors.SeedError(
                f"a seed named {seed_name!r} is already registered (by {where}); give one of "
                "them another name with @versioning.seed(..., name='...')"
            )
        hook = SeedHook(seed_name, environments, function, order, bool(always), bind)
        self._hooks[seed_name] = hook
        if self.auto_seeded:
            logger.warning(
                "seed %r was registered after the app was created and auto-seeded, so it did not "
                "run at start; register seeds before init_app() (or run 'flask db seed')",
                seed_name,
            )

    def __iter__(self) -> Iterator[SeedHook]:
        # A stable sort: registration order breaks ties of ``order``.
        return iter(sorted(self._hooks.values(), key=lambda h: h.order))

    def __len__(self) -> int:
        return len(self._hooks)

    def get(self, name: str) -> SeedHook | None:
        return self._hooks.get(name)

    def for_environment(self, environment: str) -> list[SeedHook]:
        """The hooks for ``environment``, in the order they run."""
        return [hook for hook in self if environment in hook.environments]
