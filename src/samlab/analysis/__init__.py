"""Why SAM works, measured: sharpness, perturbed forgetting, feature balance (and paper 2's two-branch measurements), τ correlation.

Kedro-free; every function takes a model, a loss and tensors (or a ``PreparedData``) and returns numbers or
tidy pandas tables. The column schemas are in each module's docstring. Probes live in ``samlab.evaluate.probes``.
"""

from samlab.analysis.correlation import correlation_table, kendall_tau_test
from samlab.analysis.feature_balance import (
    BalanceRecorder,
    feature_rescaling_factors,
    gini,
    importance_weights,
    last_layer_phantom,
    lorenz_curve,
    lorenz_table,
    lr_rescaling_factors,
    lr_rescaling_table,
    lsam_surrogate,
    phantom_importance_weights,
)
from samlab.analysis.forgetting import ForgettingRecorder, input_exposed_information, kl_divergence, step_forgetting
from samlab.analysis.sharpness import (
    fixed_subset,
    hessian_top_eigenvalue,
    hessian_trace,
    hessian_vector_product,
    m_sharpness,
)

__all__ = [
    "BalanceRecorder",
    "ForgettingRecorder",
    "feature_rescaling_factors",
    "lr_rescaling_table",
    "correlation_table",
    "fixed_subset",
    "gini",
    "hessian_top_eigenvalue",
    "hessian_trace",
    "hessian_vector_product",
    "importance_weights",
    "input_exposed_information",
    "kendall_tau_test",
    "kl_divergence",
    "last_layer_phantom",
    "lorenz_curve",
    "lorenz_table",
    "lr_rescaling_factors",
    "lsam_surrogate",
    "m_sharpness",
    "phantom_importance_weights",
    "step_forgetting",
]
