"""A small mixed-integer linear programming (MILP) builder over labelled variables.

Domain-free: variables and constraints carry any hashable label (a string or a tuple such as
``("build", "proj-12", 2029)``); linear expressions are built with ``+``, ``-`` and ``*``;
:meth:`Model.solve` assembles sparse matrices (:mod:`scipy.sparse`) and solves them with
:func:`scipy.optimize.milp` (the HiGHS solver) under a time limit and a relative MIP gap;
:func:`diagnose` explains an infeasible model by the cheapest relaxation of its "soft"
constraints (targets).

Expressions are built lazily: ``a + b`` only records its two operands, so summing *n* terms
(``sum(...)`` or :func:`quicksum`) costs O(*n*); the coefficients are collected into one dict
when the expression is used (a constraint, the objective, :meth:`Solution.value`), in a
single pass over the expression graph that multiplies shared sub-expressions correctly.

No units are assumed: the caller's coefficients carry them (tonnes per year, USD, ...).
The method and its limits are written up in ``docs/plan-solver.md``.

Examples
--------
>>> m = Model()
>>> x = m.add_var("x", ub=3)
>>> y = m.add_var("y")
>>> _ = m.add_constraint(x + y, "<=", 4, name="pair")
>>> m.maximize(3 * x + 2 * y)
>>> sol = m.solve()
>>> print(sol.status, sol.objective, sol[x], sol["y"])
optimal 11.0 3.0 1.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from oreflow.errors import InputError

__all__ = [
    "Constraint",
    "Diagnosis",
    "Expr",
    "Model",
    "Sense",
    "Solution",
    "Status",
    "Var",
    "Violation",
    "diagnose",
    "quicksum",
]

Sense: TypeAlias = Literal["<=", ">=", "=="]
_SENSES: tuple[str, ...] = ("<=", ">=", "==")
#: A value a linear expression can be built from.
Operand: TypeAlias = "Expr | Var | float | int"

#: Violations (and slack values) at or below this are reported as met: HiGHS' default
#: primal feasibility tolerance is 1e-7, scaled here for right-hand sides of order 1e3.
VIOLATION_TOL = 1e-6


# --------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------


class Expr:
    """A linear expression ``sum(coef_i * var_i) + constant``, built lazily.

    A leaf holds coefficients by variable; an inner node holds ``(operand, scale)`` pairs
    and means their scaled sum. Expressions are immutable once built, so sharing a
    sub-expression between several others is safe.
    """

    __slots__ = ("_children", "_const", "_flat", "_terms")

    def __init__(self, terms: Mapping[Var, float] | None = None, const: float = 0.0) -> None:
        self._terms: dict[Var, float] | None = dict(terms) if terms is not None else {}
        self._const = float(const)
        self._children: tuple[tuple[Expr, float], ...] = ()
        self._flat: tuple[dict[Var, float], float] | None = None

    @classmethod
    def _node(cls, children: tuple[tuple[Expr, float], ...]) -> Expr:
        e = cls.__new__(cls)
        e._terms = None
        e._const = 0.0
        e._children = children
        e._flat = None
        return e

    # -- arithmetic --------------------------------------------------------------------------
    def __add__(self, other: Operand) -> Expr:
        o = _as_expr(other)
        if o is None:
            return NotImplemented
        return Expr._node(((self, 1.0), (o, 1.0)))

    def __radd__(self, other: Operand) -> Expr:
        if isinstance(other, int | float) and other == 0:
            return self  # sum() starts from 0
        o = _as_expr(other)
        if o is None:
            return NotImplemented
        return Expr._node(((o, 1.0), (self, 1.0)))

    def __sub__(self, other: Operand) -> Expr:
        o = _as_expr(other)
        if o is None:
            return NotImplemented
        return Expr._node(((self, 1.0), (o, -1.0)))

    def __rsub__(self, other: Operand) -> Expr:
        o = _as_expr(other)
        if o is None:
            return NotImplemented
        return Expr._node(((o, 1.0), (self, -1.0)))

    def __mul__(self, other: float) -> Expr:
        if not isinstance(other, int | float | np.number) or isinstance(other, bool):
            return NotImplemented
        return Expr._node(((self, float(other)),))

    __rmul__ = __mul__

    def __truediv__(self, other: float) -> Expr:
        if not isinstance(other, int | float | np.number) or isinstance(other, bool):
            return NotImplemented
        return Expr._node(((self, 1.0 / float(other)),))

    def __neg__(self) -> Expr:
        return Expr._node(((self, -1.0),))

    def __pos__(self) -> Expr:
        return self

    # -- collection --------------------------------------------------------------------------
    def terms(self) -> tuple[dict[Var, float], float]:
        """Collect the expression: ``({var: coefficient}, constant)``.

        Coefficients of the same variable are added (a zero sum is kept, so the variable
        still counts as used). Cost: linear in the size of the expression graph; the result
        is cached and shared, so do not modify the dict.
        """
        if self._flat is not None:
            return self._flat
        if self._terms is not None:
            self._flat = (self._terms, self._const)
            return self._flat
        # Post-order of the DAG (iterative: a sum of 10^5 terms is 10^5 deep).
        order: list[Expr] = []
        seen: set[int] = set()
        stack: list[tuple[Expr, bool]] = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            if node._flat is None and node._terms is None:
                stack.extend((child, False) for child, _ in node._children)
        # Parents come after their children in ``order``: walk it backwards, pushing each
        # node's multiplier down to its children, and add up the leaves.
        mult: dict[int, float] = {id(self): 1.0}
        out: dict[Var, float] = {}
        const = 0.0
        for node in reversed(order):
            m = mult.get(id(node), 0.0)
            if node._flat is not None or node._terms is not None:
                flat = node._flat
                terms, c = flat if flat is not None else (node._terms or {}, node._const)
                const += m * c
                for v, a in terms.items():
                    out[v] = out.get(v, 0.0) + m * a
            else:
                for child, s in node._children:
                    mult[id(child)] = mult.get(id(child), 0.0) + m * s
        self._flat = (out, const)
        return self._flat

    def __repr__(self) -> str:
        terms, const = self.terms()
        shown = " + ".join(f"{a:g}*{v.name!r}" for v, a in list(terms.items())[:6])
        more = " + ..." if len(terms) > 6 else ""
        return f"Expr({shown}{more} + {const:g})"


class Var:
    """A decision variable of one :class:`Model`; build expressions with ``+ - *``.

    Attributes
    ----------
    name : Hashable
        Its label, unique in the model.
    index : int
        Its column in the model's matrices.
    """

    __slots__ = ("_leaf", "index", "model", "name")

    def __init__(self, model: Model, index: int, name: Hashable) -> None:
        self.model = model
        self.index = index
        self.name = name
        self._leaf: Expr | None = None

    def _expr(self) -> Expr:
        if self._leaf is None:
            self._leaf = Expr({self: 1.0})
        return self._leaf

    def __add__(self, other: Operand) -> Expr:
        return self._expr() + other

    def __radd__(self, other: Operand) -> Expr:
        return self._expr().__radd__(other)

    def __sub__(self, other: Operand) -> Expr:
        return self._expr() - other

    def __rsub__(self, other: Operand) -> Expr:
        return self._expr().__rsub__(other)

    def __mul__(self, other: float) -> Expr:
        if not isinstance(other, int | float | np.number) or isinstance(other, bool):
            return NotImplemented
        return Expr({self: float(other)})

    __rmul__ = __mul__

    def __truediv__(self, other: float) -> Expr:
        return self._expr() / other

    def __neg__(self) -> Expr:
        return Expr({self: -1.0})

    def __repr__(self) -> str:
        return f"Var({self.name!r})"


def _as_expr(x: object) -> Expr | None:
    """``x`` as an expression, None if it is not a variable, expression or number."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, Var):
        return x._expr()
    if isinstance(x, int | float | np.number) and not isinstance(x, bool):
        return Expr(None, float(x))
    return None


def quicksum(items: Iterable[Operand]) -> Expr:
    """Sum of many variables, expressions and numbers in one flat node (linear time).

    Equivalent to ``sum(items)``, which is linear too; this one builds one node instead of
    a chain, so collecting it does not walk a deep graph.

    Examples
    --------
    >>> m = Model()
    >>> xs = [m.add_var(("x", i)) for i in range(3)]
    >>> quicksum(2 * x for x in xs).terms()[0] == {x: 2.0 for x in xs}
    True
    """
    children: list[tuple[Expr, float]] = []
    for it in items:
        e = _as_expr(it)
        if e is None:
            raise InputError(f"cannot add {type(it).__name__} to a linear expression")
        children.append((e, 1.0))
    return Expr._node(tuple(children))


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """One linear constraint ``sum(coef * x[cols]) <sense> rhs``.

    Attributes
    ----------
    name : Hashable
        Unique label (given, or ``("c", k)`` for the *k*-th unnamed constraint).
    sense : {"<=", ">=", "=="}
    rhs : float
        Right-hand side, the expression's constant already moved to it.
    cols, coefs : numpy.ndarray
        Column indices (int64) and coefficients (float64) of the left-hand side.
    group : Hashable or None
        A family the constraint belongs to (e.g. ``"target"``), for :func:`diagnose`.
    """

    name: Hashable
    sense: Sense
    rhs: float
    cols: NDArray[np.int64] = field(repr=False)
    coefs: NDArray[np.float64] = field(repr=False)
    group: Hashable | None = None


class Status(StrEnum):
    """How a solve ended."""

    OPTIMAL = "optimal"
    """Optimal within the requested relative gap."""
    FEASIBLE = "feasible"
    """Time (or node) limit reached with a feasible solution: see :attr:`Solution.gap`."""
    NO_SOLUTION = "no_solution"
    """Time (or node) limit reached before any feasible solution was found."""
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    OTHER = "other"
    """HiGHS stopped for another reason (e.g. infeasible *or* unbounded); see the message."""


class Model:
    """A MILP: labelled variables with bounds and costs, linear constraints, an objective.

    The objective is ``sum(cost_i * x_i)`` (the ``cost`` given to :meth:`add_var`) plus the
    expression given to :meth:`minimize` or :meth:`maximize`, in that direction (minimise
    by default).
    """

    def __init__(self) -> None:
        self._vars: list[Var] = []
        self._by_name: dict[Hashable, Var] = {}
        self._lb: list[float] = []
        self._ub: list[float] = []
        self._integer: list[bool] = []
        self._cost: list[float] = []
        self._cons: list[Constraint] = []
        self._cons_by_name: dict[Hashable, Constraint] = {}
        self._objective: Expr | None = None
        self._maximize = False

    # -- variables ---------------------------------------------------------------------------
    def add_var(self, name: Hashable, *, lb: float = 0.0, ub: float = math.inf,
                integer: bool = False, cost: float = 0.0) -> Var:
        """Add a variable.

        Parameters
        ----------
        name : Hashable
            Unique label, e.g. ``("start", "proj-12", 2029)``.
        lb, ub : float, default 0 and +inf
            Bounds (``-inf`` and ``+inf`` allowed; ``lb <= ub``).
        integer : bool, default False
            Integer variable (a binary is ``integer=True, ub=1``).
        cost : float, default 0
            Objective coefficient, in the objective's direction.

        Raises
        ------
        InputError
            Duplicate name, unhashable name, NaN or crossed bounds, non-finite cost.
        """
        try:
            if name in self._by_name:
                raise InputError(f"duplicate variable name {name!r}")
        except TypeError:
            raise InputError(f"variable name {name!r} is not hashable") from None
        lb, ub, cost = float(lb), float(ub), float(cost)
        if math.isnan(lb) or math.isnan(ub) or lb == math.inf or ub == -math.inf or lb > ub:
            raise InputError(f"variable {name!r}: invalid bounds [{lb}, {ub}]")
        if not math.isfinite(cost):
            raise InputError(f"variable {name!r}: cost must be finite, got {cost}")
        v = Var(self, len(self._vars), name)
        self._vars.append(v)
        self._by_name[name] = v
        self._lb.append(lb)
        self._ub.append(ub)
        self._integer.append(bool(integer))
        self._cost.append(cost)
        return v

    def var(self, name: Hashable) -> Var:
        """The variable labelled ``name`` (InputError if there is none)."""
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise InputError(f"unknown variable {name!r}") from None

    @property
    def variables(self) -> list[Var]:
        """The variables in column order (a copy)."""
        return list(self._vars)

    @property
    def constraints(self) -> list[Constraint]:
        """The constraints in row order (a copy)."""
        return list(self._cons)

    def constraint(self, name: Hashable) -> Constraint:
        """The constraint labelled ``name`` (InputError if there is none)."""
        try:
            return self._cons_by_name[name]
        except (KeyError, TypeError):
            raise InputError(f"unknown constraint {name!r}") from None

    def groups(self) -> dict[Hashable, list[Hashable]]:
        """Constraint names by group (constraints added with ``group=``)."""
        out: dict[Hashable, list[Hashable]] = {}
        for c in self._cons:
            if c.group is not None:
                out.setdefault(c.group, []).append(c.name)
        return out

    @property
    def num_vars(self) -> int:
        """Number of variables (columns)."""
        return len(self._vars)

    @property
    def num_constraints(self) -> int:
        """Number of constraints (rows)."""
        return len(self._cons)

    # -- constraints and objective -----------------------------------------------------------
    def _collect(self, expr: Operand, what: str) -> tuple[NDArray[np.int64],
                                                          NDArray[np.float64], float]:
        e = _as_expr(expr)
        if e is None:
            raise InputError(f"{what}: not a linear expression ({type(expr).__name__})")
        terms, const = e.terms()
        cols = np.empty(len(terms), dtype=np.int64)
        for k, v in enumerate(terms):
            if v.model is not self:
                raise InputError(f"{what}: variable {v.name!r} belongs to another model")
            cols[k] = v.index
        coefs = np.fromiter(terms.values(), dtype=np.float64, count=len(terms))
        if not np.isfinite(coefs).all():
            bad = next(v for v, a in terms.items() if not math.isfinite(a))
            raise InputError(f"{what}: non-finite coefficient {terms[bad]} on {bad.name!r}")
        if not math.isfinite(const):
            raise InputError(f"{what}: non-finite constant {const}")
        return cols, coefs, const

    def add_constraint(self, expr: Operand, sense: Sense, rhs: float, name: Hashable = None,
                       *, group: Hashable = None) -> Constraint:
        """Add ``expr <sense> rhs``.

        Parameters
        ----------
        expr : Expr, Var or number
            Left-hand side; its constant is moved to the right-hand side.
        sense : {"<=", ">=", "=="}
        rhs : float
            Finite right-hand side.
        name : Hashable, optional
            Unique label (default ``("c", k)``).
        group : Hashable, optional
            Family label, so :func:`diagnose` can relax the whole family at once.

        Raises
        ------
        InputError
            Unknown sense, duplicate name, non-finite coefficient or rhs, a variable of
            another model.
        """
        if name is None:
            name = ("c", len(self._cons))
        try:
            dup = name in self._cons_by_name
        except TypeError:
            raise InputError(f"constraint name {name!r} is not hashable") from None
        if dup:
            raise InputError(f"duplicate constraint name {name!r}")
        if sense not in _SENSES:
            raise InputError(f"constraint {name!r}: sense must be one of <=, >=, ==; "
                             f"got {sense!r}")
        try:
            r = float(rhs)
        except (TypeError, ValueError):
            raise InputError(f"constraint {name!r}: rhs is not a number ({rhs!r})") from None
        if not math.isfinite(r):
            raise InputError(f"constraint {name!r}: rhs must be finite, got {r}")
        cols, coefs, const = self._collect(expr, f"constraint {name!r}")
        c = Constraint(name, sense, r - const, cols, coefs, group)
        self._cons.append(c)
        self._cons_by_name[name] = c
        return c

    def minimize(self, expr: Operand) -> None:
        """Minimise ``expr`` (plus the variables' costs); replaces any earlier objective."""
        self._set_objective(expr, maximize=False)

    def maximize(self, expr: Operand) -> None:
        """Maximise ``expr`` (plus the variables' costs); replaces any earlier objective."""
        self._set_objective(expr, maximize=True)

    def _set_objective(self, expr: Operand, *, maximize: bool) -> None:
        self._collect(expr, "objective")  # validate now, where the caller made it
        self._objective = _as_expr(expr)
        self._maximize = maximize

    @property
    def sense(self) -> Literal["min", "max"]:
        """Direction of the objective."""
        return "max" if self._maximize else "min"

    # -- matrices ----------------------------------------------------------------------------
    def objective_vector(self) -> NDArray[np.float64]:
        """Objective coefficients by column, in the model's direction (not negated)."""
        c = np.asarray(self._cost, dtype=np.float64)
        if self._objective is not None:
            cols, coefs, _ = self._collect(self._objective, "objective")
            np.add.at(c, cols, coefs)
        return c

    def objective_constant(self) -> float:
        """The objective expression's constant term."""
        return 0.0 if self._objective is None else self._objective.terms()[1]

    def matrix(self) -> tuple[sparse.csr_array, NDArray[np.float64], NDArray[np.float64]]:
        """Constraint matrix ``A`` (rows x columns, CSR) and row bounds ``lo <= A x <= hi``."""
        n_rows, n_cols = len(self._cons), len(self._vars)
        counts = np.fromiter((len(c.cols) for c in self._cons), dtype=np.int64, count=n_rows)
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), counts)
        cols = (np.concatenate([c.cols for c in self._cons]) if n_rows
                else np.empty(0, dtype=np.int64))
        vals = (np.concatenate([c.coefs for c in self._cons]) if n_rows
                else np.empty(0, dtype=np.float64))
        a = sparse.csr_array((vals, (rows, cols)), shape=(n_rows, n_cols))
        rhs = np.fromiter((c.rhs for c in self._cons), dtype=np.float64, count=n_rows)
        sense = np.array([c.sense for c in self._cons], dtype=object)
        lo = np.where(sense == "<=", -np.inf, rhs).astype(np.float64)
        hi = np.where(sense == ">=", np.inf, rhs).astype(np.float64)
        return a, lo, hi

    # -- solve -------------------------------------------------------------------------------
    def solve(self, *, time_limit: float | None = None, mip_rel_gap: float | None = None,
              presolve: bool = True) -> Solution:
        """Solve with HiGHS (:func:`scipy.optimize.milp`).

        Parameters
        ----------
        time_limit : float, optional
            Wall-clock limit [s]; on reaching it the best solution found is returned with
            status ``feasible`` (or ``no_solution``). Default: none.
        mip_rel_gap : float, optional
            Stop when ``|primal - bound| / |primal|`` is at most this (HiGHS default 1e-4).
        presolve : bool, default True

        Returns
        -------
        Solution
            Never raises for an infeasible or unbounded model: see :attr:`Solution.status`.

        Raises
        ------
        InputError
            Empty model, or an invalid time limit or gap.
        """
        if not self._vars:
            raise InputError("the model has no variables")
        options: dict[str, object] = {"disp": False, "presolve": bool(presolve)}
        if time_limit is not None:
            if not (math.isfinite(time_limit) and time_limit > 0):
                raise InputError(f"time_limit must be a positive number of seconds, "
                                 f"got {time_limit}")
            options["time_limit"] = float(time_limit)
        if mip_rel_gap is not None:
            if not (math.isfinite(mip_rel_gap) and mip_rel_gap >= 0):
                raise InputError(f"mip_rel_gap must be >= 0, got {mip_rel_gap}")
            options["mip_rel_gap"] = float(mip_rel_gap)
        c = self.objective_vector()
        sign = -1.0 if self._maximize else 1.0
        a, lo, hi = self.matrix()
        integrality = np.asarray(self._integer, dtype=np.uint8)
        bounds = Bounds(np.asarray(self._lb), np.asarray(self._ub))
        constraints = LinearConstraint(a, lo, hi) if a.shape[0] else None
        t0 = time.perf_counter()
        res = milp(sign * c, integrality=integrality, bounds=bounds, constraints=constraints,
                   options=options)
        seconds = time.perf_counter() - t0
        return self._solution(res, sign, seconds)

    def _solution(self, res: object, sign: float, seconds: float) -> Solution:
        code = int(getattr(res, "status", 4))
        x_raw = getattr(res, "x", None)
        x = None if x_raw is None else np.array(x_raw, dtype=np.float64)
        if code == 0:
            status = Status.OPTIMAL
        elif code == 1:
            status = Status.FEASIBLE if x is not None else Status.NO_SOLUTION
        elif code == 2:
            status = Status.INFEASIBLE
        elif code == 3:
            status = Status.UNBOUNDED
        else:
            status = Status.OTHER
        if x is not None:
            ints = np.asarray(self._integer, dtype=bool)
            x[ints] = np.round(x[ints])  # HiGHS returns integers within 1e-6
        const = self.objective_constant()
        fun = getattr(res, "fun", None)
        bound = getattr(res, "mip_dual_bound", None)
        gap = getattr(res, "mip_gap", None)
        objective = None if fun is None or x is None else sign * float(fun) + const
        return Solution(
            model=self,
            status=status,
            objective=objective,
            bound=None if bound is None or x is None else sign * float(bound) + const,
            gap=None if gap is None or x is None else float(gap),
            seconds=seconds,
            message=str(getattr(res, "message", "")),
            nodes=getattr(res, "mip_node_count", None),
            x=x,
        )


# --------------------------------------------------------------------------------------------
# Solution
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    """The result of :meth:`Model.solve`.

    Attributes
    ----------
    model : Model
    status : Status
        ``optimal``, ``feasible`` (limit hit, incumbent returned), ``no_solution``,
        ``infeasible``, ``unbounded`` or ``other``.
    objective : float or None
        Objective value of the returned solution, in the model's direction.
    bound : float or None
        HiGHS' best bound on the optimum (lower for min, upper for max).
    gap : float or None
        Relative MIP gap ``|objective - bound| / |objective|`` reported by HiGHS (0 for an
        LP solved to optimality).
    seconds : float
        Wall-clock time of the solver call [s] (matrix assembly excluded).
    message : str
        HiGHS' message.
    nodes : int or None
        Branch-and-bound nodes explored.
    x : numpy.ndarray or None
        Values by column; integers rounded.
    """

    model: Model = field(repr=False)
    status: Status
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    message: str = field(repr=False)
    nodes: int | None = None
    x: NDArray[np.float64] | None = field(default=None, repr=False)

    @property
    def has_values(self) -> bool:
        """True if the solve returned variable values (optimal or feasible)."""
        return self.x is not None

    def _x(self) -> NDArray[np.float64]:
        if self.x is None:
            raise InputError(f"no solution values: the solve ended '{self.status}'")
        return self.x

    def __getitem__(self, key: Var | Hashable) -> float:
        """Value of a variable, given as a :class:`Var` or by its label."""
        v = key if isinstance(key, Var) else self.model.var(key)
        if v.model is not self.model:
            raise InputError(f"variable {v.name!r} belongs to another model")
        return float(self._x()[v.index])

    def value(self, expr: Operand) -> float:
        """Value of a linear expression at this solution."""
        cols, coefs, const = self.model._collect(expr, "value")
        return float(coefs @ self._x()[cols] + const)

    def values(self) -> dict[Hashable, float]:
        """All values by variable label."""
        x = self._x()
        return {v.name: float(x[v.index]) for v in self.model._vars}

    def activity(self, name: Hashable) -> float:
        """Left-hand side value of the constraint labelled ``name``."""
        c = self.model.constraint(name)
        return float(c.coefs @ self._x()[c.cols])


# --------------------------------------------------------------------------------------------
# Infeasibility diagnosis
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """A soft constraint the cheapest relaxation does not meet.

    Attributes
    ----------
    name : Hashable
        The constraint's label.
    group : Hashable or None
    sense : {"<=", ">=", "=="}
    rhs : float
        What was asked.
    achieved : float
        The left-hand side in the relaxed solution.
    amount : float
        By how much the constraint is missed (>= 0, in the constraint's units):
        ``rhs - achieved`` for ``>=``, ``achieved - rhs`` for ``<=``, ``|achieved - rhs|``
        for ``==``.
    """

    name: Hashable
    group: Hashable | None
    sense: Sense
    rhs: float
    achieved: float
    amount: float


@dataclass(frozen=True)
class Diagnosis:
    """The result of :func:`diagnose`.

    Attributes
    ----------
    feasible : bool
        True if the model is feasible as given (no soft constraint needs relaxing).
    hard_feasible : bool
        False if the constraints *not* named soft are infeasible on their own: then no
        relaxation of the soft ones helps and ``violations`` is empty.
    total : float or None
        Least total weighted violation (``sum(penalty * amount)``), None if unknown.
    violations : list of Violation
        The soft constraints that cannot all be met, largest weighted violation first.
    solution : Solution
        The relaxed model's solution (its values include the original variables).
    """

    feasible: bool
    hard_feasible: bool
    total: float | None
    violations: list[Violation]
    solution: Solution = field(repr=False)

    def lines(self) -> list[str]:
        """A human-readable summary, one line per violated constraint."""
        if not self.hard_feasible:
            return ["the constraints that are not soft cannot be met together"]
        if self.feasible:
            return ["all constraints can be met"]
        return [f"{v.name!r}: {v.sense} {v.rhs:g} missed by {v.amount:g} "
                f"(best reachable {v.achieved:g})" for v in self.violations]


def _soft_names(model: Model, soft: Iterable[Hashable]) -> dict[Hashable, Hashable]:
    """Constraint names to relax, each mapped to the soft entry that named it."""
    groups = model.groups()
    out: dict[Hashable, Hashable] = {}
    for entry in soft:
        try:
            is_name = entry in model._cons_by_name
            is_group = entry in groups
        except TypeError:
            raise InputError(f"soft entry {entry!r} is not hashable") from None
        if is_name:
            out.setdefault(entry, entry)
        elif is_group:
            for n in groups[entry]:
                out.setdefault(n, entry)
        else:
            raise InputError(f"soft entry {entry!r} is neither a constraint name nor a group")
    return out


def diagnose(model: Model, soft: Sequence[Hashable], *,
             penalty: float | Mapping[Hashable, float] = 1.0,
             time_limit: float | None = None, mip_rel_gap: float | None = None,
             tol: float = VIOLATION_TOL) -> Diagnosis:
    """Explain infeasibility by the cheapest relaxation of the soft constraints.

    Every soft constraint gets an elastic slack ``s >= 0`` (two, ``s+`` and ``s-``, for an
    equality): ``a x + s >= b``, ``a x - s <= b``, ``a x + s+ - s- == b``. The hard
    constraints, bounds and integrality stay. The relaxed model minimises the weighted total
    violation ``sum(w_k s_k)`` (the original objective is dropped), so its optimum is the
    least total violation any decision can reach, and the constraints with a positive slack
    are those that cannot be met together with the rest, with the amount they are missed by.

    Parameters
    ----------
    model : Model
        The model to explain (not modified).
    soft : sequence of Hashable
        Constraint names or group names (see ``group=`` in :meth:`Model.add_constraint`).
    penalty : float or mapping, default 1
        Weight per unit of violation; a mapping gives it per soft entry (constraint name or
        group, as listed in ``soft``; missing entries weigh 1). Weights must be > 0.
    time_limit, mip_rel_gap : optional
        As for :meth:`Model.solve`; with a time limit the relaxation found may not be the
        cheapest (``solution.status`` says so).
    tol : float, default 1e-6
        Slack values at or below it count as met.

    Returns
    -------
    Diagnosis

    Notes
    -----
    The cheapest relaxation need not be unique: when several sets of violations cost the
    same, HiGHS returns one of them. Weights make the choice: a heavier penalty on a target
    moves the violation to the others. This is the "elastic programming" of Brown & Graves
    (1975) and the phase-one objective of the simplex method, not an irreducible infeasible
    subsystem (IIS).
    """
    names = _soft_names(model, soft)
    if not names:
        raise InputError("diagnose needs at least one soft constraint")
    weights: dict[Hashable, float] = {}
    for n, entry in names.items():
        w = penalty.get(entry, 1.0) if isinstance(penalty, Mapping) else penalty
        w = float(w)
        if not (math.isfinite(w) and w > 0):
            raise InputError(f"penalty for {entry!r} must be a positive number, got {w}")
        weights[n] = w
    relaxed = Model()
    for v in model._vars:
        relaxed.add_var(v.name, lb=model._lb[v.index], ub=model._ub[v.index],
                        integer=model._integer[v.index])
    slack_of: dict[Hashable, tuple[Var | None, Var | None]] = {}
    for c in model._cons:
        if c.name not in names:
            _copy_constraint(relaxed, c, [])
            continue
        w = weights[c.name]
        up = relaxed.add_var(_SlackLabel("up", c.name), cost=w) if c.sense != "<=" else None
        down = relaxed.add_var(_SlackLabel("down", c.name), cost=w) if c.sense != ">=" else None
        extra = [(s.index, sign) for s, sign in ((up, 1.0), (down, -1.0)) if s is not None]
        _copy_constraint(relaxed, c, extra)
        slack_of[c.name] = (up, down)
    sol = relaxed.solve(time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    if not sol.has_values:
        hard = sol.status not in (Status.INFEASIBLE, Status.OTHER)
        return Diagnosis(False, hard, None, [], sol)
    found: list[tuple[float, Violation]] = []
    for name, (up, down) in slack_of.items():
        amount = (sol[up] if up is not None else 0.0) + (sol[down] if down is not None else 0.0)
        if amount <= tol:
            continue
        c = model._cons_by_name[name]
        found.append((weights[name] * amount, Violation(
            name, c.group, c.sense, c.rhs, float(c.coefs @ sol._x()[c.cols]), amount)))
    found.sort(key=lambda t: -t[0])
    total = sum(w for w, _ in found)
    return Diagnosis(not found, True, total, [v for _, v in found], sol)


@dataclass(frozen=True)
class _SlackLabel:
    """Label of an elastic slack: cannot clash with any user label."""

    side: str
    constraint: Hashable


def _copy_constraint(m: Model, c: Constraint, extra: list[tuple[int, float]]) -> None:
    cols = c.cols
    coefs = c.coefs
    if extra:
        cols = np.concatenate([cols, np.array([i for i, _ in extra], dtype=np.int64)])
        coefs = np.concatenate([coefs, np.array([s for _, s in extra], dtype=np.float64)])
    nc = Constraint(c.name, c.sense, c.rhs, cols, coefs, c.group)
    m._cons.append(nc)
    m._cons_by_name[c.name] = nc
