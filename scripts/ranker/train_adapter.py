"""Low-rank question adapter q' = normalize(q + q A B), trained on cached train-set embeddings.

Negatives: all sentences of the question's own article (hard) + random sentences of other articles.
python train_adapter.py [--val] [--rank 16] [--epochs 3] [--out artifacts/adapter.npz]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import common

SETS = {"squad-train": 1.0, "selqa": 1.0, "trecqa-train": 1.0, "coqa-wiki-lit": 0.5}


def build(val: bool, seed: int = 0):
    groups_tr, groups_va = [], []  # (set, Qidx array, Sidx array, pos mask (nq, ns))
    tensors = {}
    for name, wt in SETS.items():
        ds = common.load(name)
        S, Q, _ = common.embeddings(ds)
        tensors[name] = (torch.from_numpy(S), torch.from_numpy(Q))
        rng = np.random.default_rng(seed)
        nd = len(ds.docs)
        vdocs = set(rng.permutation(nd)[: nd // 4].tolist()) if val else set()
        byd: dict[int, list[int]] = {}
        for i, q in enumerate(ds.questions):
            byd.setdefault(ds.doc_index[q["doc_id"]], []).append(i)
        for d, qs in byd.items():
            a, n = int(ds.doc_first[d]), int(ds.doc_n[d])
            if n < 2:
                continue
            pos = np.stack([ds.gold_mask(qi) for qi in qs])
            g = (name, wt, np.array(qs), a, n, pos)
            (groups_va if d in vdocs else groups_tr).append(g)
    return groups_tr, groups_va, tensors


def apply(q: torch.Tensor, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(q + (q @ A) @ B, dim=-1)


def evaluate(groups, tensors, A, B) -> dict[str, tuple[float, float]]:
    res: dict[str, list[float]] = {}
    with torch.no_grad():
        for name, _, qs, a, n, pos in groups:
            S, Q = tensors[name]
            q = Q[qs] if A is None else apply(Q[qs], A, B)
            sc = (q @ S[a : a + n].T).numpy()
            for j in range(len(qs)):
                gmax = sc[j][pos[j]].max()
                r = int((sc[j] > gmax).sum())
                res.setdefault(name, []).append(r)
    return {
        k: (
            float(np.mean(np.array(v) == 0)),
            float(np.mean([1 / (r + 1) if r < 10 else 0 for r in v])),
        )
        for k, v in res.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--val", action="store_true")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--out", default=os.path.join(common.REPO, "qa", "data", "adapter.npz"))
    ap.add_argument(
        "--squad",
        default="squad-train-all",
        help="squad-train (110-article subsample) or squad-train-all",
    )
    args = ap.parse_args()
    if args.squad != "squad-train":
        SETS[args.squad] = SETS.pop("squad-train")
    torch.manual_seed(0)
    torch.set_num_threads(2)
    t0 = time.time()
    gtr, gva, tensors = build(args.val)
    d = 384
    A = torch.nn.Parameter(torch.randn(d, args.rank) * 0.01)
    B = torch.nn.Parameter(torch.zeros(args.rank, d))
    opt = torch.optim.AdamW([A, B], lr=args.lr, weight_decay=args.wd)
    rng = np.random.default_rng(0)
    if args.val:
        print("before", evaluate(gva, tensors, None, None), flush=True)
    for ep in range(args.epochs):
        order = rng.permutation(len(gtr))
        tot = 0.0
        for gi in order:
            name, wt, qs, a, n, pos = gtr[gi]
            S, Q = tensors[name]
            for chunk in range(0, len(qs), 64):
                qq = qs[chunk : chunk + 64]
                pm = torch.from_numpy(pos[chunk : chunk + 64])
                neg = torch.from_numpy(rng.integers(0, len(S), 128))
                cand = torch.cat([S[a : a + n], S[neg]])
                q = apply(Q[qq], A, B)
                logits = args.scale * q @ cand.T
                # random negatives from the same article range are harmless (label 0)
                pmask = torch.cat([pm, torch.zeros(len(qq), 128, dtype=torch.bool)], 1)
                lp = torch.logsumexp(logits.masked_fill(~pmask, -1e4), 1)
                la = torch.logsumexp(logits, 1)
                loss = wt * (la - lp).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                tot += float(loss.detach())
        msg = f"epoch {ep} loss {tot / len(order):.3f} {time.time() - t0:.0f}s"
        if args.val:
            msg += " " + str(
                {
                    k: (round(v[0], 3), round(v[1], 3))
                    for k, v in evaluate(gva, tensors, A.detach(), B.detach()).items()
                }
            )
        print(msg, flush=True)
    np.savez(
        args.out, A=A.detach().numpy().astype(np.float32), B=B.detach().numpy().astype(np.float32)
    )
    print("wrote", args.out, f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
