"""L-BFGS with an optional strong-Wolfe line search: PyTorch's ``torch.optim.LBFGS``.

A line-for-line port of PyTorch's ``lbfgs.py`` (itself ported from Lua Torch's ``lbfgs.lua``
and ``lswolfe.lua``), on one flat vector of all the parameters. The scalars (step sizes, dot
products, the history's ``1 / (y . s)``) are NumPy scalars of the parameters' dtype, so float32
parameters are optimized in float32 arithmetic, as PyTorch's 0-dim tensors do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd.grad_mode import enable_grad
from ..backend import array_module
from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _check_non_negative

_HISTORY = ("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")


def _cubic_interpolate(
    x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any, bounds: tuple[Any, Any] | None = None
) -> Any:
    """The minimizer of the cubic through ``(x1, f1)`` and ``(x2, f2)`` with slopes ``g1``, ``g2``,
    clamped to ``bounds`` (default: between ``x1`` and ``x2``); their midpoint if it has none."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(
    obj_func: Callable[[Any, Any, Any], tuple[float, Any]],
    x: list[Any],
    t: Any,
    d: Any,
    f: float,
    g: Any,
    gtd: Any,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, Any, Any, int]:
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions (sufficient decrease ``c1``,
    curvature ``c2``): bracketing, then zooming by cubic interpolation. Returns the loss and
    flat gradient there, ``t``, and the number of evaluations of ``obj_func(x, t, d)``."""
    xp = array_module(d)
    d_norm = xp.abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new.copy()]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new.copy()]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # interpolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(
            t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
        )
        # next step
        t_prev = tmp
        f_prev = f_new
        g_prev = g_new.copy()
        gtd_prev = gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

    # reached the maximum number of iterations?
    if ls_iter == max_ls:
        bracket = [0, t]
        bracket_f = [f, f_new]
        bracket_g = [g, g_new]

    # zoom: refine the bracket until a point meets the criteria
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:  # the bracket is tiny
            break
        t = _cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # Too close to an end of the bracket: if progress was insufficient last time, or t is
        # at (or past) an end, move it 0.1 * len(bracket) in from the nearer end.
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo condition not met, or not lower than the lowest point
            bracket[high_pos] = t
            bracket_f[high_pos] = f_new
            bracket_g[high_pos] = g_new.copy()
            bracket_gtd[high_pos] = gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # the Wolfe conditions hold
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high becomes the new low
                bracket[high_pos] = bracket[low_pos]
                bracket_f[high_pos] = bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            # the new point becomes the new low
            bracket[low_pos] = t
            bracket_f[low_pos] = f_new
            bracket_g[low_pos] = g_new.copy()
            bracket_gtd[low_pos] = gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


def _pack(value: Any) -> Any:
    """Arrays and NumPy scalars of the running state as tensors (what ``state_dict`` copies and
    ``load_state_dict`` casts); lists element by element; Python numbers and ``None`` as are."""
    if isinstance(value, list):
        return [_pack(v) for v in value]
    if isinstance(value, np.generic) or hasattr(value, "__array__"):
        return Tensor._wrap(array_module(value).asarray(value))
    return value


def _unpack(value: Any) -> Any:
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    return value._data if isinstance(value, Tensor) else value


class LBFGS(Optimizer):
    """L-BFGS: quasi-Newton steps from a short history of gradient changes
    (``torch.optim.LBFGS``).

    Each :meth:`step` runs up to ``max_iter`` iterations (``max_eval`` evaluations of the
    closure) on the flat vector of all parameters: the direction comes from the last
    ``history_size`` pairs of parameter and gradient changes (the two-loop recursion), the step
    length is ``lr`` (the first ever is scaled down to at most ``lr / sum|g|``), or, with
    ``line_search_fn="strong_wolfe"``, found by a line search meeting the strong Wolfe
    conditions. It stops early when the largest gradient entry is at most ``tolerance_grad``,
    or the step or the change in loss is below ``tolerance_change``.

    Only one parameter group is supported, and the closure is required.

    Args:
        params: tensors to optimize.
        lr: learning rate (the step length without a line search; its first guess with one).
        max_iter: most iterations per :meth:`step`.
        max_eval: most closure evaluations per :meth:`step` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when ``max |g|`` is at most this.
        tolerance_change: stop when the step or the change in loss is smaller than this.
        history_size: how many past updates approximate the inverse Hessian.
        line_search_fn: ``None`` or ``"strong_wolfe"``.

    Example:
        >>> import chainrule as cr
        >>> xy = cr.tensor([-1.5, 2.0], dtype=cr.float64, requires_grad=True)
        >>> opt = cr.optim.LBFGS([xy], line_search_fn="strong_wolfe")
        >>> def closure():  # Rosenbrock's function, minimum 0 at (1, 1)
        ...     opt.zero_grad()
        ...     x, y = xy[0], xy[1]
        ...     loss = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        ...     loss.backward()
        ...     return loss
        >>> for _ in range(3):
        ...     loss = opt.step(closure)
        >>> [round(v, 6) for v in xy.tolist()]
        [0.999998, 0.999997]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        _check_non_negative("learning rate", lr)
        if line_search_fn is not None and line_search_fn != "strong_wolfe":
            raise ValueError(
                f"only 'strong_wolfe' is supported, got line_search_fn={line_search_fn!r}"
            )
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)  # refuses a second group (add_param_group)
        self._params: list[Tensor] = self.param_groups[0]["params"]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add the one parameter group; a second one is refused (L-BFGS works on one flat vector
        with one set of options).

        Example:
            >>> import chainrule as cr
            >>> opt = cr.optim.LBFGS([cr.tensor([1.0], requires_grad=True)])
            >>> opt.add_param_group({"params": [cr.tensor([2.0], requires_grad=True)]})
            Traceback (most recent call last):
            ...
            ValueError: LBFGS doesn't support per-parameter options (parameter groups)
        """
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ----- the flat vector of all parameters --------------------------------------------
    def _gather_flat_grad(self) -> Any:
        xp = array_module(self._params[0]._data)
        views = [
            xp.zeros(p._data.size, dtype=p._data.dtype) if p.grad is None else p.grad._data.ravel()
            for p in self._params
        ]
        return xp.concatenate(views)

    def _add_grad(self, step_size: Any, update: Any) -> None:
        """``params += step_size * update`` (``update`` flat), through each ``p._mutate``."""
        step_size = float(step_size)  # a weak scalar: float32 parameters stay float32
        offset = 0
        for p in self._params:
            n = p._data.size
            part = update[offset : offset + n].reshape(p._data.shape)
            p._mutate(lambda a, part=part: a.__iadd__(part * step_size))
            offset += n

    def _clone_param(self) -> list[Any]:
        return [p._data.copy() for p in self._params]

    def _set_param(self, params_data: list[Any]) -> None:
        for p, data in zip(self._params, params_data):
            p._mutate(lambda a, data=data: a.__setitem__(..., data))

    def _directional_evaluate(
        self, closure: Callable[[], Any], x: list[Any], t: Any, d: Any
    ) -> tuple[float, Any]:
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ----- the step ---------------------------------------------------------------------
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations; ``closure`` re-evaluates the model (zeroing
        the gradients, calling ``backward``) and returns the loss. Returns the first loss.

        Example:
            >>> import chainrule as cr
            >>> w = cr.tensor([3.0, -1.0], dtype=cr.float64, requires_grad=True)
            >>> opt = cr.optim.LBFGS([w])
            >>> def closure():
            ...     opt.zero_grad()
            ...     loss = ((w - 1) ** 2).sum()
            ...     loss.backward()
            ...     return loss
            >>> opt.step(closure).item(), [round(v, 6) for v in w.tolist()]
            (8.0, [1.0, 1.0])
        """
        if closure is None or not callable(closure):
            raise TypeError(
                "LBFGS.step needs a closure that re-evaluates the model and returns the loss, "
                f"got {type(closure).__name__}"
            )

        def evaluate() -> Any:
            with enable_grad():  # the closure always records its graph
                return closure()

        with np.errstate(divide="ignore", invalid="ignore"):  # inf/nan as torch, unwarned
            return self._run(evaluate)

    def _run(self, closure: Callable[[], Any]) -> Any:
        group = self.param_groups[0]
        lr = group["lr"]
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]
        xp = array_module(self._params[0]._data)

        # LBFGS has only global state; as torch, it is registered under the first parameter
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        # evaluate the initial f(x) and df/dx
        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
        if opt_cond:  # already optimal
            return orig_loss

        d, t, old_dirs, old_stps, ro, H_diag, prev_flat_grad, prev_loss = (
            _unpack(state.get(k)) for k in _HISTORY
        )
        al = _unpack(state["al"]) if "al" in state else None

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ----- the descent direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                # update the memory
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:  # shift the history by one
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)  # the scale of the initial inverse Hessian

                # the approximate inverse Hessian times the gradient (the two-loop recursion,
                # collapsed onto one buffer)
                num_old = len(old_dirs)
                if al is None:
                    al = [None] * history_size
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q += old_dirs[i] * float(-al[i])
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += old_stps[i] * float(al[i] - be_i)

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # ----- the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / xp.abs(flat_grad).sum()) * lr
            else:
                t = lr

            gtd = flat_grad.dot(d)  # the directional derivative
            if gtd > -tolerance_change:  # below tolerance
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x: list[Any], t: Any, d: Any) -> tuple[float, Any]:
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
            else:
                # no line search: a fixed step
                self._add_grad(t, d)
                if n_iter != max_iter:
                    # re-evaluate only if this is not the last iteration: in a stochastic
                    # setting there is no use in evaluating it here
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ----- the stopping conditions
            if n_iter == max_iter:
                break
            if current_evals >= max_eval:
                break
            if opt_cond:  # optimal
                break
            if xp.abs(d * t).max() <= tolerance_change:  # no progress in the parameters
                break
            if abs(loss - prev_loss) < tolerance_change:  # nor in the loss
                break

        history = (d, t, old_dirs, old_stps, ro, H_diag, prev_flat_grad, prev_loss)
        for key, value in zip(_HISTORY, history):
            state[key] = _pack(value)
        if al is not None:
            state["al"] = _pack(al)
        return orig_loss
