"""A toy, mirror-symmetric top-of-book generator whose imbalance predicts the next mid move."""

from __future__ import annotations

import numpy as np


def synthetic_top_of_book(rng: np.random.Generator, n: int, tick: float = 0.01):
    """Return ``(bid, ask, bid_size, ask_size)`` arrays of ``n`` snapshots.

    Spread 1 or 2 ticks. At spread 1, with probability 0.15 one queue is depleted: the ask with
    probability I (mid +1/2 tick), else the bid. At spread 2 the gap is filled with probability 0.3,
    on the bid side with probability I (mid +1/2 tick). Otherwise queue sizes random-walk.
    """
    bid_t, spread = 10_000, 1
    qb, qa = 50, 50
    out = np.empty((n, 4))
    u = rng.random((n, 3))
    steps = rng.integers(-10, 11, size=(n, 2))
    fresh = rng.integers(1, 100, size=(n, 2))
    for i in range(n):
        out[i] = (bid_t * tick, (bid_t + spread) * tick, qb, qa)
        imb = qb / (qb + qa)
        if spread == 1 and u[i, 0] < 0.15:
            spread = 2
            if u[i, 1] < imb:  # ask queue eaten: the ask steps up
                qa = int(fresh[i, 1])
            else:
                bid_t -= 1
                qb = int(fresh[i, 0])
        elif spread == 2 and u[i, 0] < 0.3:
            spread = 1
            if u[i, 1] < imb:  # buyers improve the bid
                bid_t += 1
                qb = int(fresh[i, 0])
            else:
                qa = int(fresh[i, 1])
        else:
            qb = int(np.clip(qb + steps[i, 0], 1, 100))
            qa = int(np.clip(qa + steps[i, 1], 1, 100))
    return out[:, 0], out[:, 1], out[:, 2], out[:, 3]
