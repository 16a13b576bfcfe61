"""Statistics of listening-test ratings, as in the thesis (§5.6, Tables 14-16).

Kruskal-Wallis H test (``scipy.stats.kruskal``) of the null hypothesis that the ratings of all
methods come from one distribution, then Conover's post-hoc test of every pair of methods
(``scikit_posthocs.posthoc_conover``, p-values adjusted for multiple comparisons, Holm by default),
per excerpt and over all excerpts; box plots of the ratings per method (matplotlib, PNG).
"""

from __future__ import annotations

import io
import os
import re
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from dmcdata.shards import write_atomic

REQUIRED = ("listener", "excerpt", "method", "rating")


class RatingsError(ValueError):
    """A ratings file that cannot be analysed (the message names the file and the problem)."""


def read_ratings(paths) -> pd.DataFrame:
    """All rows of the CSV files, checked: required columns, ratings in [0, 1], one rating per listener/excerpt/method."""
    frames = []
    for path in paths:
        try:
            df = pd.read_csv(path, dtype={"listener": str, "excerpt": str, "method": str, "rating": str}, keep_default_na=False)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise RatingsError(f"{path}: not a readable CSV ({type(exc).__name__})") from None
        missing = [c for c in REQUIRED if c not in df.columns]
        if missing:
            raise RatingsError(f"{path}: missing column(s) {', '.join(missing)} (need {', '.join(REQUIRED)})")
        rating = pd.to_numeric(df["rating"], errors="coerce")
        bad = ~rating.between(0.0, 1.0)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise RatingsError(f"{path}: line {row}: rating {df['rating'].iloc[row - 2]!r} is not a number in [0, 1]")
        df["rating"] = rating.astype(float)
        df["file"] = str(path)
        frames.append(df)
    if not frames:
        raise RatingsError("no ratings files given")
    # one row order whatever the order of the files: the same ratings give the same bytes
    data = pd.concat(frames, ignore_index=True).sort_values(["excerpt", "method", "listener"], kind="stable",
                                                            ignore_index=True)
    dup = data.duplicated(["listener", "excerpt", "method"], keep=False)
    if dup.any():
        r = data[dup].iloc[0]
        raise RatingsError(f"{r['file']}: listener {r['listener']!r} rated {r['method']!r} on {r['excerpt']!r} more than once "
                           f"(the same listener's CSV given twice?)")
    return data


def kruskal(df: pd.DataFrame) -> tuple[float, float]:
    """Kruskal-Wallis H statistic and p-value over the methods in ``df`` (NaN if undefined: < 2 methods, all tied)."""
    from scipy.stats import kruskal as kw

    groups = [g["rating"].to_numpy() for _, g in df.groupby("method", sort=True)]
    if len(groups) < 2 or np.ptp(np.concatenate(groups)) == 0:  # scipy refuses all-identical ratings
        return float("nan"), float("nan")
    h, p = kw(*groups)
    return float(h), float(p)


def conover_table(df: pd.DataFrame, p_adjust: str = "holm", alpha: float = 0.05) -> pd.DataFrame:
    """Thesis-shaped table: one row per method pair (sorted): Group 1, Group 2, Mean Diff. (1 - 2), P_adj, Reject."""
    import scikit_posthocs as sp

    methods = sorted(df["method"].unique())
    if len(df) <= len(methods):  # one rating per method: Conover's variance estimate is undefined
        pvals = pd.DataFrame(np.full((len(methods), len(methods)), np.nan), index=methods, columns=methods)
    elif np.ptp(df["rating"].to_numpy()) == 0:  # all ratings tied: no evidence of any difference
        pvals = pd.DataFrame(np.ones((len(methods), len(methods))), index=methods, columns=methods)
    else:
        pvals = sp.posthoc_conover(df, val_col="rating", group_col="method", p_adjust=p_adjust, sort=True)
    means = df.groupby("method")["rating"].mean()
    # an undefined (NaN) p-value compares False: not rejected
    rows = [{"Group 1": a, "Group 2": b, "Mean Diff.": float(means[a] - means[b]), "P_adj": float(pvals.loc[a, b]),
             "Reject": bool(pvals.loc[a, b] < alpha)} for a, b in combinations(methods, 2)]
    return pd.DataFrame(rows, columns=["Group 1", "Group 2", "Mean Diff.", "P_adj", "Reject"])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "excerpt"


def boxplot_png(df: pd.DataFrame, title: str) -> bytes:
    """A box plot of the ratings per method (methods sorted), as PNG bytes without timestamps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted(df["method"].unique())
    fig, ax = plt.subplots(figsize=(1.4 * len(methods) + 2, 3.6), dpi=100)
    ax.boxplot([df.loc[df["method"] == m, "rating"].to_numpy() for m in methods], showmeans=True)
    ax.set_xticks(range(1, len(methods) + 1), methods, rotation=20)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("Score")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def analyse(paths, out: str | os.PathLike | None = None, p_adjust: str = "holm", alpha: float = 0.05) -> dict:
    """Overall and per-excerpt statistics; with ``out``: tables (CSV) and box plots (PNG) written there."""
    data = read_ratings(paths)
    scopes = [("overall", data)] + [(ex, g) for ex, g in sorted(data.groupby("excerpt"), key=lambda kv: kv[0])]
    results = {}
    for name, df in scopes:
        h, p = kruskal(df)
        results[name] = {"n_ratings": len(df), "n_listeners": df["listener"].nunique(), "H": h, "p": p,
                         "means": df.groupby("method")["rating"].mean().sort_index().to_dict(),
                         "conover": conover_table(df, p_adjust, alpha)}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        for name, r in results.items():
            t = r["conover"].copy()
            t.insert(0, "scope", name)
            t.insert(1, "H", r["H"])
            t.insert(2, "p_kruskal", r["p"])
            rows.append(t)
        write_atomic(out / "conover.csv", pd.concat(rows).to_csv(index=False, float_format="%.6g").encode())
        for name, df in scopes:
            label = "Overall" if name == "overall" else f"Excerpt {name}"
            write_atomic(out / f"boxplot_{'overall' if name == 'overall' else 'excerpt_' + _slug(name)}.png",
                         boxplot_png(df, label))
    return results


def format_table(table: pd.DataFrame) -> str:
    lines = [f"{'Group 1':<16} {'Group 2':<16} {'Mean Diff.':>10} {'P_adj':>10}  Reject"]
    for r in table.itertuples(index=False):
        lines.append(f"{r[0]:<16} {r[1]:<16} {r[2]:>10.3f} {r[3]:>10.2e}  {r[4]}")
    return "\n".join(lines)
