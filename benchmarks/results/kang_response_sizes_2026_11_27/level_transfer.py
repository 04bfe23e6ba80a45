"""Transfer the stimulated *level* instead of the *change*? (real cells only, no model)

For each held-out type h, the two source types whose control means correlate best with h's
(chosen from control cells alone), and three ways to predict h's mean change on its own
top-100 DEGs: the sources' mean change (`change`, what every shift transfer does), the
sources' stimulated level minus h's control level (`level`: an induced gene reaches the same
level in every type), and their mean (`half`). Printed per type: the slope of the predicted
on the real change (1 = the right size) and r2 of the predicted and real change.
    python level_transfer.py
"""

import numpy as np
from _kang_types import adata, cell_type, ctrl, type_means, types

from scotm import metrics

control, stimulated = type_means(ctrl), type_means(~ctrl)
for h in types:
    gi = adata.var_names.get_indexer(
        metrics.top_degs(adata[(cell_type == h) & ctrl], adata[(cell_type == h) & ~ctrl])
    )
    others = [t for t in types if t != h]
    sources = sorted(others, key=lambda t: -np.corrcoef(control[t], control[h])[0, 1])[:2]
    real = (stimulated[h] - control[h])[gi]
    change = np.mean([(stimulated[t] - control[t])[gi] for t in sources], 0)
    level = np.mean([stimulated[t][gi] for t in sources], 0) - control[h][gi]
    cells = [f"{h} | sources {', '.join(sources)}"]
    for name, pred in [("change", change), ("level", level), ("half", (change + level) / 2)]:
        r2 = np.corrcoef(pred, real)[0, 1] ** 2
        cells.append(f"{name}: slope {pred @ real / (real @ real):.2f}, r2 {r2:.3f}")
    print(" | ".join(cells))
