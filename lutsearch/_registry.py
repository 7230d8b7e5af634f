"""One registry for everything looked up by name: model families, connectivity schemes, datasets,
objectives, cost backends, samplers.

A ``Registry[T]`` maps names to items of one kind. Its items come from three places, all loaded
before the first look-up:

* the modules of its package (``discover`` imports every module whose name does not start with
  ``_``; each calls the kind's ``register_*`` function), so adding one = adding one file;
* third-party plug-ins named by Python entry points in the group ``lutsearch.<kind>``
  (``lutsearch.families``, ``lutsearch.datasets``, ``lutsearch.objectives``,
  ``lutsearch.cost_backends``, ``lutsearch.connectivity``, ``lutsearch.samplers``), loaded once,
  lazily; an entry point may name a module (importing it registers), an item or a class of items
  (registered under the entry point's name), or a function (called with no arguments; it
  registers). A plug-in that fails to load is skipped with a one-line warning, so one broken
  package does not take the built-ins down;
* explicit ``register`` calls (e.g. ``plugins:`` files of a space).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
import threading
import types
import warnings
from collections.abc import Iterator
from typing import Generic, TypeVar, cast

__all__ = ["Registry", "discover"]

T = TypeVar("T")


def discover(package_name: str) -> list[str]:
    """Import every module of ``package_name`` whose name does not start with '_' (sorted by name);
    returns their names. Safe to call from the package's own ``__init__``."""
    package = importlib.import_module(package_name)
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{package_name}.{name}")
    return names


class Registry(Generic[T]):
    """Items of one ``kind`` by name; ``kind`` words the errors (``unknown dataset 'x'; allowed: ...``).

    ``package``: imported before the first look-up (its ``__init__`` discovers its modules).
    ``group``: the entry-point group of third-party plug-ins.
    """

    def __init__(
        self,
        kind: str,
        *,
        package: str | None = None,
        group: str | None = None,
        short: str | None = None,
        item_type: type | None = None,
    ) -> None:
        self.kind = kind
        self.item_type = item_type  # entry points naming an instance or a subclass of it are items
        self.short = short or kind  # the word in "... registered twice" (e.g. "family")
        self.package = package
        self.group = group
        self._items: dict[str, T] = {}
        self._loaded = False
        self._lock = threading.RLock()

    def _store(self) -> dict[str, T]:
        """Where the items live (a subclass may keep them elsewhere)."""
        return self._items

    def register(self, name: str, item: T, *, replace: bool = False) -> T:
        """Add ``item`` as ``name``; a second registration of a name is an error unless ``replace``."""
        store = self._store()
        if name in store and not replace:
            raise ValueError(f"{self.short} {name!r} registered twice")
        store[name] = item
        return item

    def get(self, name: str) -> T:
        self.load()
        try:
            return self._store()[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; allowed: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        self.load()
        return sorted(self._store())

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._store()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load()
        return len(self._store())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._store())} items)"

    def load(self) -> None:
        """Import the package and the entry-point plug-ins (once; re-entrant calls return at once)."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            self._loaded = True  # first, so that a module looking names up while it loads does not recurse
            if self.package is not None:
                try:
                    importlib.import_module(self.package)
                except BaseException:
                    self._loaded = False
                    raise
            if self.group is not None:
                self._load_entry_points()

    def from_entry_point(self, name: str, obj: object) -> None:
        """Register what entry point ``name`` loaded: a module (importing it registered its items), an
        instance of ``item_type`` or a subclass of it (instantiated with no arguments), any other
        callable (called with no arguments; it registers), or else the item itself."""
        item_type = self.item_type
        if isinstance(obj, types.ModuleType):
            return
        if item_type is not None and isinstance(obj, type) and issubclass(obj, item_type):
            self.register(name, cast(T, obj()))
        elif item_type is not None and isinstance(obj, item_type):
            self.register(name, cast(T, obj))
        elif callable(obj):
            obj()
        else:
            self.register(name, cast(T, obj))  # an untyped registry takes what it is given

    def _load_entry_points(self) -> None:
        if self.group is None:
            return
        for ep in importlib.metadata.entry_points(group=self.group):
            try:
                self.from_entry_point(ep.name, ep.load())
            except Exception as exc:
                message = " ".join(f"{type(exc).__name__}: {exc}".split())
                warnings.warn(
                    f"{self.kind} plug-in {ep.name!r} ({ep.value}) could not be loaded: {message}",
                    RuntimeWarning,
                    stacklevel=2,
                )
