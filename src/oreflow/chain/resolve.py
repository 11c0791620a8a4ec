"""Element resolution: one rare-earth element's flows through a chain built in REO.

A chain in t REO-equivalent knows how much each node makes and where it sources; it does not
know which elements are in each flow. :func:`resolve_element` follows one element through it:

- **supply-driven** from the mine to the separation stage: the element enters with the ore
  mix of each mining country and travels with the flows, so a separator's element output is
  the element content of its feed;
- **demand-driven** from the product stage back to the stage after separation: a magnet
  plant contains what its recipe says (product output × element content), metal plants make
  what their magnet customers need plus their own final users' share, and the separators meet
  that need in proportion to their flow to each metal plant weighted by their element content;
- what a separator does not ship to metal plants goes to its own final users (oxide uses);
  if metal plants ask for more than a separator has, the deficit is reported, never hidden.

Pure numpy; equations in ``docs/model.md`` (section *Element resolution*).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["ElementFlows", "resolve_element"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ElementFlows:
    """One element's flows through a chain [t oxide of the element/yr].

    Attributes
    ----------
    output : numpy.ndarray, shape (stages, n)
        Element in each node's output.
    final_use : numpy.ndarray, shape (stages, n)
        Element in each country's final use of each stage's product.
    allocation, use_allocation : numpy.ndarray
        Element flows to the next stage's plants, shape (stages − 1, n, n), and to the final
        users of each stage, shape (stages, n, n) (supplier × buyer).
    sourcing, use_sourcing : numpy.ndarray
        The same as shares of each buyer's element supply [-] (columns sum to 1; a buyer
        without element supply gets its REO sourcing).
    deficit : numpy.ndarray, shape (n,)
        Element that the metal plants ask of each separator beyond its output (0 if none).
    unexplained : numpy.ndarray, shape (stages, n)
        Reported element output less what the node's recorded feed brings (positive: output
        the recorded feed cannot explain — undocumented mining, stock draws; negative: feed
        rejected or lost); zero where no output is reported.
    unallocated : numpy.ndarray, shape (stages,)
        Element output of each stage that no buyer takes (stock, unrecorded use).
    """

    output: FloatArray
    final_use: FloatArray
    allocation: FloatArray
    use_allocation: FloatArray
    sourcing: FloatArray
    use_sourcing: FloatArray
    deficit: FloatArray
    unallocated: FloatArray
    unexplained: FloatArray
    notes: list[str] = field(default_factory=list)


def _shares(flow: FloatArray, fallback: FloatArray) -> FloatArray:
    """Column shares of a (j, c) flow matrix; empty columns take ``fallback``'s column."""
    col = flow.sum(axis=0)
    out: FloatArray = np.divide(flow, col[None, :], out=np.zeros_like(flow),
                                where=col[None, :] > 0)
    empty = ~(col > 0)
    out[:, empty] = fallback[:, empty]
    return out


def _per_unit(amount: FloatArray, base: FloatArray) -> FloatArray:
    return np.divide(amount, base, out=np.zeros_like(amount), where=base > 0)


def resolve_element(
    *,
    supply: FloatArray,
    use: FloatArray,
    allocation: FloatArray,
    use_allocation: FloatArray,
    sourcing: FloatArray,
    use_sourcing: FloatArray,
    mine_content: FloatArray,
    product_need: FloatArray | None = None,
    junction: int = 1,
    secondary: FloatArray | None = None,
    secondary_element: FloatArray | None = None,
    observed: FloatArray | None = None,
) -> ElementFlows:
    """Follow one element through a REO chain.

    Parameters
    ----------
    supply : numpy.ndarray, shape (stages, n)
        Output of every node [t REO-eq/yr].
    use : numpy.ndarray, shape (stages, n)
        Final use of every stage's product by country [t REO-eq/yr].
    allocation, sourcing : numpy.ndarray, shape (stages − 1, n, n)
        REO flows from stage t in j to the plants of stage t+1 in c, and their column shares.
    use_allocation, use_sourcing : numpy.ndarray, shape (stages, n, n)
        REO flows from stage t in j to final users in c, and their column shares.
    mine_content : numpy.ndarray, shape (n,)
        Share of the element in each mining country's REO [-].
    product_need : numpy.ndarray, shape (n,), optional
        Element content of each country's output at the last stage (a product made to a
        recipe) [t oxide/yr]. Without it every stage is supply-driven.
    junction : int, default 1
        Position of the last supply-driven stage (separation); stages after it up to the last
        are demand-driven when ``product_need`` is given.
    secondary, secondary_element : numpy.ndarray, shape (stages, n), optional
        Recycled feed into the plants of each stage [t REO-eq/yr] (part of ``allocation``, as a
        flow from the country to itself) and the element it carries [t oxide/yr].
    observed : numpy.ndarray, shape (stages, n), optional
        Reported element output of supply-driven nodes [t oxide/yr], NaN where not reported;
        it replaces the supply-driven value, and the difference is ``unexplained``.

    Returns
    -------
    ElementFlows

    Notes
    -----
    With φ_t(j) the element share of node (t, j)'s REO output, supply-driven links carry
    E_{t+1}(c) = Σ_j A_t[j, c] φ_t(j). Demand-driven stages, from the product stage P down:
    E_P = N (the recipe need), and for J < t < P

    .. math:: E_t(j) = \\sum_c S_t[j, c]\\, E_{t+1}(c) + \\theta_t(j) \\sum_c A^U_t[j, c]

    with θ_t the supply-driven content of plant j's feed (its final users' share). At the
    junction J a separator ships F(j) = Σ_c S^e_J[j, c] E_{J+1}(c) to metal plants, with
    S^e_J[j, c] ∝ A_J[j, c] φ_J(j), and its remainder max(E_J(j) − F(j), 0) to its final
    users in proportion to their REO allocation; the excess of F over E_J is the deficit.

    Examples
    --------
    >>> import numpy as np
    >>> from oreflow.chain.sourcing import allocate
    >>> sup = np.array([[100.0, 0.0], [0.0, 100.0], [0.0, 40.0]])  # mine, separation, metal
    >>> use = np.array([[0.0, 0.0], [0.0, 60.0], [0.0, 40.0]])
    >>> s0, a0 = allocate(sup[0], np.stack([sup[1], use[0]]))
    >>> s1, a1 = allocate(sup[1], np.stack([sup[2], use[1]]))
    >>> s2, a2 = allocate(sup[2], use[2][None])
    >>> f = resolve_element(
    ...     supply=sup, use=use, allocation=np.stack([a0[0], a1[0]]),
    ...     use_allocation=np.stack([a0[1], a1[1], a2[0]]), sourcing=np.stack([s0[0], s1[0]]),
    ...     use_sourcing=np.stack([s0[1], s1[1], s2[0]]), mine_content=np.array([0.2, 0.0]),
    ...     product_need=np.array([0.0, 15.0]))
    >>> f.output.sum(axis=1).tolist()  # 20 t mined and separated; metal holds what it needs
    [20.0, 20.0, 15.0]
    >>> float(f.final_use[1].sum())  # the rest of the separated element goes to oxide users
    5.0
    """
    n_st, n = supply.shape
    sec = np.zeros((n_st, n)) if secondary is None else secondary
    sec_e = np.zeros((n_st, n)) if secondary_element is None else secondary_element
    obs = np.full((n_st, n), np.nan) if observed is None else observed
    unexplained = np.zeros((n_st, n))
    out = np.zeros((n_st, n))
    fin = np.zeros((n_st, n))
    a_e = np.zeros_like(allocation)
    au_e = np.zeros_like(use_allocation)
    phi = np.zeros((n_st, n))  # supply-driven element share of each node's REO output
    notes: list[str] = []
    out[0] = supply[0] * mine_content
    demand = product_need is not None and n_st - 1 > junction
    last_supply = junction if demand else n_st - 1
    for t in range(last_supply + 1):  # loop over stages, not countries
        seen = ~np.isnan(obs[t])
        if seen.any():
            unexplained[t] = np.where(seen, obs[t] - out[t], 0.0)
            out[t] = np.where(seen, obs[t], out[t])
        phi[t] = _per_unit(out[t], supply[t])
        if t < n_st - 1:
            own = np.diag(sec[t + 1])  # recycled feed, a flow from a country to itself
            a_e[t] = (allocation[t] - own) * phi[t][:, None] + np.diag(sec_e[t + 1])
            if t < last_supply:
                out[t + 1] = a_e[t].sum(axis=0)
        if t < last_supply or not demand:
            au_e[t] = use_allocation[t] * phi[t][:, None]
            fin[t] = au_e[t].sum(axis=0)
    deficit = np.zeros(n)
    if demand:
        assert product_need is not None
        p = n_st - 1
        out[p] = product_need
        # content of the product reaching its final users: the producer's content per REO-eq
        au_e[p] = use_allocation[p] * _per_unit(out[p], supply[p])[:, None]
        fin[p] = au_e[p].sum(axis=0)
        for t in range(p - 1, junction, -1):  # demand-driven stages, downstream first
            a_e[t] = sourcing[t] * out[t + 1][None, :]
            feed = (sourcing[t - 1] * phi[t - 1][:, None]).sum(axis=0)  # content of feed
            au_e[t] = use_allocation[t] * feed[:, None]
            fin[t] = au_e[t].sum(axis=0)
            out[t] = a_e[t].sum(axis=1) + au_e[t].sum(axis=1)
        j = junction
        weighted = _shares(allocation[j] * phi[j][:, None], sourcing[j])
        a_e[j] = weighted * out[j + 1][None, :]
        shipped = a_e[j].sum(axis=1)
        deficit = np.maximum(shipped - out[j], 0.0)
        rest = np.maximum(out[j] - shipped, 0.0)
        to_users = use_allocation[j].sum(axis=1)
        au_e[j] = use_allocation[j] * _per_unit(rest, to_users)[:, None]
        fin[j] = au_e[j].sum(axis=0)
        if deficit.sum() > 1e-9 * max(out[j].sum(), 1.0):
            notes.append(f"downstream plants need {deficit.sum():,.1f} t more of the element "
                         "than the separators that supply them produce")
    unallocated = np.zeros(n_st)
    for t in range(n_st):  # loop over stages, not countries
        shipped = au_e[t].sum()
        if t < n_st - 1:  # what the next stage takes, less its recycled feed (not from stage t)
            shipped += a_e[t].sum() - sec_e[t + 1].sum()
        unallocated[t] = out[t].sum() - shipped
    s_e = np.stack([_shares(a_e[t], sourcing[t]) for t in range(n_st - 1)]) if n_st > 1 \
        else np.zeros((0, n, n))
    su_e = np.stack([_shares(au_e[t], use_sourcing[t]) for t in range(n_st)])
    return ElementFlows(out, fin, a_e, au_e, s_e, su_e, deficit, unallocated, unexplained,
                        notes)
