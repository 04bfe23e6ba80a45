"""The model: :class:`SCOTM` and what it is made of.

- :mod:`.core`: ``SCOTM`` (setup, train, predict, variant, get_latent, save, load);
- :mod:`.config`: its settings, four typed configs checked before training;
- :mod:`.state`: the state a model is built from, by training and by loading alike;
- :mod:`.reference`: the OT reference; :mod:`.predict`: inference and the decode options;
- :mod:`.persist`: the saved directory (format 2);
- :mod:`.methods`: its benchmark methods (registered on import).

>>> model = SCOTM(train, condition_key="condition", control="control",
...               perturbed="stimulated", cell_type_key="cell_type")  # doctest: +SKIP
>>> model.train()  # doctest: +SKIP
>>> pred = model.predict(ctrl_of_new_type)  # doctest: +SKIP
>>> model.save("my_model/"); SCOTM.load("my_model/")  # doctest: +SKIP
"""

from ..benchmark.methods import GENEPT_KEY  # noqa: E402  (one home: the benchmark)
from .config import (
    POST_TRAINING,
    ModuleConfig,
    PredictConfig,
    Settings,
    TrainConfig,
    TransportConfig,
)
from .core import SCOTM
from .methods import ABLATIONS, FAITHFUL, PRIOR_METHODS, BenchmarkAdapter
from .persist import FORMAT_VERSION
from .reference import Reference
from .state import ModelState

__all__ = [
    "ABLATIONS",
    "FAITHFUL",
    "FORMAT_VERSION",
    "GENEPT_KEY",
    "POST_TRAINING",
    "PRIOR_METHODS",
    "SCOTM",
    "BenchmarkAdapter",
    "ModelState",
    "ModuleConfig",
    "PredictConfig",
    "Reference",
    "Settings",
    "TrainConfig",
    "TransportConfig",
]
