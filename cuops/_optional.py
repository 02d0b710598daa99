"""Optional dependencies: one line naming the extra to install, not a traceback.

    require("cuops demo", "demo", "sklearn", "tqdm")

raises MissingDependency("cuops demo needs scikit-learn: pip install 'cuops[demo]'")
when a module is missing; `python -m cuops` prints that line and exits with 1.
The extras are defined in pyproject.toml.
"""

from __future__ import annotations

import importlib

# import name -> pip name, where they differ
_PIP_NAMES = {"sklearn": "scikit-learn"}


class MissingDependency(ImportError):
    """An optional dependency of a cuops feature is not installed."""


def require(feature: str, extra: str, *modules: str) -> None:
    """Import `modules`; if one is missing, raise MissingDependency saying
    which extra of cuops installs it."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:  # the module is there but one of its own imports is not
                raise
            raise MissingDependency(f"{feature} needs {_PIP_NAMES.get(module, module)}: "
                                    f"pip install 'cuops[{extra}]'") from None
