"""Whole-text self-harm model variants, measured on the training's validation carve-out (never a test split).

    PYTHONPATH=. nice -n 10 .venv/bin/python bench/risk_text_experiment.py [--supportive=K] [VARIANT ...]

Reads the same rows and the same SHA-256 carve-out as bench/train_risk_model.py, fits each
variant of the whole-text model (which rows, their weights, C, the features), and prints what
it finds together with the shipped windows (either-or, thresholds chosen together within the
same false-flag budget as the training: `choose_pair`): recall on all validation positives,
r/SuicideWatch, C-SSRS users at risk, Supportive users flagged, r/teenagers and ham flagged.
--supportive=K: the thresholds chosen with one more budget, at most K validation Supportive users
flagged (the shipped model flags 4 of 28), so variants are compared at the same Supportive cost.
Variants: C, rows and their weights (r/teenagers up, the hate corpora down or out, Supportive
posts up) and NB-LR (features scaled by their log-count ratio, folded into the coefficients, so
the shipped scoring would be unchanged). ~15-25 s CPU a variant.
docs/risk_model.md quotes its figures.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.train_risk_model as base  # noqa: E402
from filters.text.model import RiskModel, _sigmoid, char_matrix  # noqa: E402


def split_rows() -> tuple[list[base.Row], list[base.Row]]:
    """Whole-text train rows (self_harm known) and validation rows, split as the training splits them."""
    rows: list[base.Row] = []
    for source in base.SOURCES:
        rows.extend(source())
    train, valid = base.split(rows)
    return ([r for r in train if "self_harm" in r.labels], [r for r in valid if "self_harm" in r.labels])


HATE_SOURCES = {"gab", "implicit", "stormfront", "kaggle", "olid"}

# name -> (keep the row?, weight multiplier by source, C[, NB weighting alpha])
VARIANTS = {
    "nb1": (lambda r: True, {}, 4.0, 1.0),
    "nb1_C1": (lambda r: True, {}, 1.0, 1.0),
    "nb1_C16": (lambda r: True, {}, 16.0, 1.0),
    "nb_reddit": (lambda r: True, {}, 4.0, "reddit"),
    "shipped": (lambda r: True, {}, 4.0),
    "C1": (lambda r: True, {}, 1.0),
    "C16": (lambda r: True, {}, 16.0),
    "teen3": (lambda r: True, {"teen": 3.0}, 4.0),
    "nohate": (lambda r: r.source not in HATE_SOURCES, {}, 4.0),
    "nohate_C16": (lambda r: r.source not in HATE_SOURCES, {}, 16.0),
    "hate_0.2": (lambda r: True, {s: 0.2 for s in HATE_SOURCES}, 4.0),
    "hate_0.2_teen2": (lambda r: True, {**{s: 0.2 for s in HATE_SOURCES}, "teen": 2.0}, 4.0),
    "examples_5": (lambda r: True, {"examples": 1 / 3}, 4.0),
    "sup3": (lambda r: True, {"cssrs_user": 1.0, "cssrs": 3.0}, 4.0),
    "nb_reddit_sup3": (lambda r: True, {"cssrs": 3.0}, 4.0, "reddit"),
    "nb_reddit_sup3_user3": (lambda r: True, {"cssrs": 3.0, "cssrs_user": 3.0}, 4.0, "reddit"),
    "nb_reddit_C1": (lambda r: True, {}, 1.0, "reddit"),
    "nb_reddit_hate_0.2": (lambda r: True, {s: 0.2 for s in HATE_SOURCES}, 4.0, "reddit"),
}


def choose_capped(window: np.ndarray, text: np.ndarray, gold: np.ndarray, sources: np.ndarray,
                  cap: int) -> tuple[float, float]:
    """As base.choose_pair, with one more budget: at most `cap` validation Supportive C-SSRS users
    flagged (a grid over both thresholds, the positives' own scores as candidates)."""
    pos = gold == 1
    budgets = [((sources == "teen") & ~pos, int(np.floor(base.MAX_TEEN_FPR["self_harm"] * ((sources == "teen") & ~pos).sum()))),
               (sources == "ham", int(np.floor(base.MAX_HAM_FPR * (sources == "ham").sum()))),
               ((sources == "cssrs_valid") & ~pos, cap)]
    best = (-1, 1.0, 1.0)
    for tw in np.unique(np.round(window[pos], 3)):
        by_window = window >= tw
        if any((by_window & chosen).sum() > allowed for chosen, allowed in budgets):
            continue
        # the lowest text threshold that keeps every budget
        tt = 0.0
        for chosen, allowed in budgets:
            rest = np.sort(text[chosen & ~by_window])[::-1]
            room = allowed - int((by_window & chosen).sum())
            if room < len(rest):
                tt = max(tt, float(rest[room]) + 1e-4)
        recall = int(((by_window | (text >= tt)) & pos).sum())
        if recall > best[0]:
            best = (recall, float(tw), tt)
    return best[1], best[2]


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    args = sys.argv[1:]
    cap = None
    if args and args[0].startswith("--supportive="):
        cap = int(args.pop(0).split("=")[1])
    wanted = args or list(VARIANTS)
    started = time.process_time()
    train, valid = split_rows()
    model = RiskModel.load()
    column = model.labels.index("self_harm")
    gold = np.array([r.labels["self_harm"] for r in valid])
    sources = np.array([r.source for r in valid])
    # the shipped windows, scored as the training scores them (best combined window)
    w = model.combine[column]
    window = []
    for r in valid:
        s_raw, w_raw, m_raw, sizes = model.raw_parts([(r.text, base.spans(r.text))])
        raw = model.combined_raw(s_raw, w_raw, m_raw, sizes)[:, column]
        window.append(float(_sigmoid(raw.max())))
    window = np.array(window)
    texts = [r.text[:base.MAX_TEXT_TRAIN_CHARS if r.source in base.TEXT_ONLY_SOURCES else base.MAX_TRAIN_CHARS]
             for r in train]
    x_all = char_matrix(texts, base.CHAR_BITS)
    x_valid = char_matrix([r.text for r in valid], base.CHAR_BITS)
    y_all = np.array([r.labels["self_harm"] for r in train])
    weight_all = np.array([r.weight for r in train])
    print(f"{len(train)} train rows, {len(valid)} validation rows ({time.process_time() - started:.0f} s)")
    sup = (sources == "cssrs_valid") & (gold == 0)
    at_risk = (sources == "cssrs_valid") & (gold == 1)
    for name in wanted:
        keep_row, multiplier, c, *nb = VARIANTS[name]
        keep = np.array([keep_row(r) for r in train])
        weights = weight_all * np.array([multiplier.get(r.source, 1.0) for r in train])
        x_fit, ratio = x_all, None
        if nb:
            # NB-LR (Wang & Manning 2012): each feature scaled by its log-count ratio between the
            # classes; folded into the coefficients afterwards, so scoring is unchanged
            rows = keep if nb[0] != "reddit" else keep & np.isin([r.source for r in train],
                                                                 ["suicidewatch", "teen", "sdcnl"])
            binary = (x_all[rows] > 0).astype(np.float32)
            y_rows = y_all[rows]
            p = np.asarray(binary[y_rows == 1].sum(axis=0)).ravel() + 1.0
            q = np.asarray(binary[y_rows == 0].sum(axis=0)).ravel() + 1.0
            ratio = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
            from scipy.sparse import diags
            x_fit = x_all @ diags(ratio)
        fit = LogisticRegression(C=c, solver="liblinear", class_weight="balanced", random_state=base.SEED,
                                 max_iter=200).fit(x_fit[keep], y_all[keep], sample_weight=weights[keep])
        coef = fit.coef_[0] * (ratio if ratio is not None else 1.0)
        coef = coef.astype(np.float16).astype(np.float32)
        raw = x_valid @ coef + fit.intercept_[0]
        a, b = base.platt(raw, gold)
        text = _sigmoid(a * raw + b)
        tw, tt, summary = base.choose_pair(window, text, gold, sources, base.MAX_TEEN_FPR["self_harm"])
        if cap is not None:
            tw, tt = choose_capped(window, text, gold, sources, cap)
        flagged = (window >= tw) | (text >= tt)
        if cap is not None:
            summary = (f"window {tw:.3f} or whole text {tt:.3f} (Supportive <= {cap}): R {flagged[gold == 1].mean():.3f}, "
                       f"teen {flagged[(sources == 'teen') & (gold == 0)].mean():.4f}, ham {flagged[sources == 'ham'].mean():.4f}")
        reddit = np.isin(sources, ["suicidewatch", "teen"])
        print(f"{name:16} AUC all {base.auc(text, gold):.4f} reddit {base.auc(text[reddit], gold[reddit]):.4f} | "
              f"{summary} | SW {flagged[sources == 'suicidewatch'].mean():.3f} C-SSRS at risk "
              f"{flagged[at_risk].mean():.3f} Supportive {flagged[sup].sum()}/{sup.sum()} "
              f"({time.process_time() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
