"""Does anything in a type's control cells tell how strongly it responds? (real cells only)

The response direction common to all 8 types (the mean of their mean changes, on its 100
largest genes); per type, the size of its own mean change along it, and three things a
prediction could read from the type's control cells: the mean control level of the genes
that direction raises, the log-normalised expression summed over the prepared genes per
cell, and the prepared genes detected per cell.
    python size_predictors.py
"""

import numpy as np
from _kang_types import X, cell_type, ctrl, type_means, types

control = {t: X[(cell_type == t) & ctrl] for t in types}
stimulated, control_means = type_means(~ctrl), type_means(ctrl)
change = {t: stimulated[t] - control_means[t] for t in types}
common = np.mean([change[t] for t in types], 0)
genes = np.argsort(-np.abs(common))[:100]
unit = common[genes] / np.linalg.norm(common[genes])
raised = genes[common[genes] > 0]
print(
    "type | response size | control level of the raised genes | expression per cell | genes per cell | control cells"
)
for t in types:
    x = control[t]
    print(
        f"{t} | {change[t][genes] @ unit:.2f} | {x.mean(0)[raised].mean():.3f} | "
        f"{x.sum(1).mean():.1f} | {(x > 0).sum(1).mean():.1f} | {x.shape[0]}"
    )
