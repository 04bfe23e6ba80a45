"""scotm: predict single-cell perturbation responses in cell types never seen perturbed."""

from importlib.metadata import PackageNotFoundError, version

from . import baselines, datasets, metrics, pp
from ._errors import ScotmInputError

try:
    __version__ = version("scotm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["ScotmInputError", "baselines", "datasets", "metrics", "pp", "__version__"]
