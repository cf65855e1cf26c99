"""Personalised PageRank by power iteration: the walk ingest/rank.py runs over the reference
graph (who uses a name -> who defines it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DAMPING = 0.85
ITERATIONS = 50
TOLERANCE = 1e-6  # stop once an iteration moves less rank than this in total


def pagerank(
    nodes: Sequence[str], edges: Mapping[str, Mapping[str, float]], teleport: Mapping[str, float]
) -> dict[str, float]:
    """Personalised PageRank by power iteration (one sparse product per step, in numpy); the rank
    of files without out-edges restarts by `teleport` (normalised here), so ranks sum to 1.
    numpy is imported here: a pack that fits whole (and a cache-hit `ask`) never ranks."""
    import numpy as np

    index = {node: i for i, node in enumerate(nodes)}
    restart = np.array([teleport[n] for n in nodes], dtype=float)
    restart /= restart.sum()
    sources, targets, weights = [], [], []
    for src, out in edges.items():
        total = sum(out.values())
        for dst, weight in out.items():
            sources.append(index[src])
            targets.append(index[dst])
            weights.append(weight / total)
    src_at, dst_at = np.array(sources, dtype=int), np.array(targets, dtype=int)
    share = np.array(weights, dtype=float)
    dangling = np.ones(len(nodes), dtype=bool)
    dangling[src_at] = False
    rank = restart.copy()
    for _ in range(ITERATIONS):
        spread = (1 - DAMPING) + DAMPING * rank[dangling].sum()
        following = spread * restart + DAMPING * np.bincount(
            dst_at, weights=rank[src_at] * share, minlength=len(nodes)
        )
        converged = np.abs(following - rank).sum() < TOLERANCE
        rank = following
        if converged:
            break
    return {node: float(value) for node, value in zip(nodes, rank, strict=True)}
