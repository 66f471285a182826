"""samlab: Sharpness-Aware Minimization and its relatives, as a Kedro research project.

The core (``samlab.optim``, ``samlab.data``, ``samlab.models``, ``samlab.train``, ``samlab.evaluate``,
``samlab.analysis``, ``samlab.reporting``) knows nothing of Kedro; ``samlab.pipelines`` wires it up.
"""

from samlab import _compat  # noqa: F401  - must run before anything imports torchvision or timm

__version__ = "0.1.0"
