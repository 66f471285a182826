"""A dataset whose data may not exist yet: it loads ``None`` instead of failing.

The reporting pipeline reads the tables of every other pipeline; a researcher who has run only some of them
still gets a report, where each missing table's figure says which pipeline to run. ``OptionalReportInputs``
(in ``samlab.hooks``) wraps exactly the reporting inputs that this run neither has on disk nor produces.
It can also be written in the catalog around any dataset::

    robustness_accuracy:
      type: samlab.io.OptionalDataset
      dataset: {type: pandas.CSVDataset, filepath: data/07_model_output/robustness/accuracy.csv}
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.io import AbstractDataset

log = logging.getLogger(__name__)


class OptionalDataset(AbstractDataset[Any, Any]):
    """Delegates everything to ``dataset``, except that loading data that does not exist returns ``None``."""

    def __init__(self, dataset: AbstractDataset | dict[str, Any], metadata: dict[str, Any] | None = None):
        self._dataset = (
            dataset if isinstance(dataset, AbstractDataset) else AbstractDataset.from_config("inner", dataset)
        )
        self.metadata = metadata if metadata is not None else getattr(self._dataset, "metadata", None)

    @property
    def dataset(self) -> AbstractDataset:
        return self._dataset

    def load(self) -> Any:
        # release first: a dataset that caches what it found (PartitionedDataset's file list, taken when the hook
        # asked before the run) must look again, since the run may have written the data since
        self._dataset.release()
        if not self._dataset.exists():
            log.info("%s has no data yet: loading None", self._dataset)
            return None
        return self._dataset.load()

    def save(self, data: Any) -> None:
        self._dataset.save(data)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _describe(self) -> dict[str, Any]:
        return {"dataset": str(self._dataset)}
