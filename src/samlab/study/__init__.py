"""Study populations (paper 1's τ study, the OBF sweep, paper 2's feature study) in plain Python.

A member is plain data (``Member``); populations are built from parameters (``tau_population``,
``obf_population``, ``feature_population``); ``run_member`` trains and measures one; ``run_members`` fans a
population out over local processes or a Dask cluster; ``summaries`` turns rows into the reported tables.
"""

from samlab.study.fanout import EXECUTORS, run_members, runner_settings
from samlab.study.member import (
    Member,
    feature_population,
    feature_populations,
    obf_population,
    perturbation_batch_sizes,
    tau_population,
)
from samlab.study.run import MemberResult, data_available, load_data, run_member

__all__ = [
    "EXECUTORS",
    "Member",
    "MemberResult",
    "data_available",
    "feature_population",
    "feature_populations",
    "load_data",
    "obf_population",
    "perturbation_batch_sizes",
    "run_member",
    "run_members",
    "runner_settings",
    "tau_population",
]
