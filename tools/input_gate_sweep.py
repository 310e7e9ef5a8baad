"""Sweep of gate variants on the builder's cached features, leave-one-group-out (docs/input_checks.md, "Sweep").

    OMP_NUM_THREADS=1 .venv/bin/python tools/input_gate_sweep.py            # ~40 min on one core
    OMP_NUM_THREADS=1 .venv/bin/python tools/input_gate_sweep.py --only knn  # one family

Needs the feature cache of ``tools/build_input_gate.py`` (runs/input_gate/features_v3_*.npz; the builder
writes it). Writes nothing: one line per variant. Every variant is fitted without the held-out group (and its
squashed, resized and photographed copies), gets its operating point on the Kermany calibration films (about
1 % withheld there), and is measured on the held-out group; the Kermany-side rates (calibration, test_public,
native1024, native) come from the variant fitted on all groups. This differs from the builder only in the PCA
solver (full SVD here, scikit-learn's randomised one there), which moves a rate by one or two films.

Families: ``lr`` (classifier + distance, C / PCA size / multinomial or binary), ``fuse`` (the same scores
fused by "any" or "sum", with weights and budgets), ``taps`` (which MobileNetV2 blocks), ``knn`` (k-nearest
Kermany films, no outside data).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_input_gate as B  # noqa: E402

K = B.K_KERMANY
MEAS = ("k_cal", "k_cal_orig", "k_cal_photo", "test_public", "native1024", "native", "tp_photo", "dicom")
EXT = ("ext", "ext_k224", "ext_res")


class Sweep:
    def __init__(self, cache: Path):
        args = SimpleNamespace(seed=0, n_fit=1200, n_cal=800, n_photo_fit=600, n_photo_cal=250, n_nonchest=300)
        self.sets = B.image_sets(args)
        self.feats = B.extract(self.sets, list(self.sets), cache)
        self.x_cal, _ = B.stack(self.feats, self.sets, B.CAL_SETS)
        self._pca: dict = {}
        self._maha: dict = {}

    def embed(self, sel_key, sel, g, n_max=512) -> dict:
        """Standardise + PCA (fitted without group g) of every set the fold needs."""
        if (sel_key, g) not in self._pca:
            x, y = B.stack(self.feats, self.sets, B.FIT_SETS, groups_out=() if g is None else (g,))
            xs = x[:, sel].astype(np.float64)
            mu, sd = xs.mean(0), np.maximum(xs.std(0), 1e-3)
            zm = ((xs - mu) / sd).mean(0)
            _, _, vt = np.linalg.svd((xs - mu) / sd - zm, full_matrices=False)
            proj = vt[:n_max]

            def emb(a):
                return (((a[:, sel] - mu) / sd) - zm) @ proj.T

            e: dict = {"fit": (emb(x), y), "cal": emb(self.x_cal)}
            if g is None:
                e.update({n: emb(self.feats[n]) for n in MEAS})
            else:
                m = self.sets["ext"]["group"] == g
                e.update({n: emb(self.feats[n][m]) for n in EXT})
                e["yv"] = self.sets["ext"]["y"][m]
                e["ext_photo"] = emb(self.feats["ext_photo"][self.sets["ext_photo"]["group"] == g])
            self._pca[(sel_key, g)] = e
        return self._pca[(sel_key, g)]

    def distance(self, sel_key, sel, a) -> np.ndarray:
        """The builder's Kermany-only probabilistic-PCA distance (no outside data: the same in every fold)."""
        if sel_key not in self._maha:
            x, y = B.stack(self.feats, self.sets, B.FIT_SETS)
            self._maha[sel_key] = B.fit_head(x[y == K], y[y == K], sel, False, True)
        return B.score_head(self._maha[sel_key], a)[1]

    def collect(self, poolings=B.ALL, taps=B.TAPS, c=0.05, npca=256, binary=False) -> dict:
        """fold (group or None = all) -> set -> (P(outside), distance)."""
        from sklearn.linear_model import LogisticRegression

        sel, sk = B.feature_index(poolings, taps), (poolings, taps)
        out: dict = {}
        for g in (*B.GROUPS, None):
            e = self.embed(sk, sel, g)
            zf, y = e["fit"]
            scale = zf[:, :npca].std(0)
            lr = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
            lr.fit(zf[:, :npca] / scale, (y != K).astype(int) if binary else y)

            def p_out(n, e=e, lr=lr, scale=scale):
                return 1 - lr.predict_proba(e[n][:, :npca] / scale)[:, 0]

            if g is None:
                names = {n: self.feats[n] for n in MEAS}
            else:
                m, mp = self.sets["ext"]["group"] == g, self.sets["ext_photo"]["group"] == g
                names = {n: self.feats[n][m] for n in EXT} | {"ext_photo": self.feats["ext_photo"][mp]}
            out[g] = {n: (p_out(n), self.distance(sk, sel, a)) for n, a in names.items()}
            out[g]["cal"] = (p_out("cal"), self.distance(sk, sel, self.x_cal))
            out[g]["yv"] = e.get("yv")
        return out

    def knn(self, poolings=B.ALL, npca=32, k=5, cosine=False) -> dict:
        """Mean distance to the k nearest Kermany fitting films (PCA of Kermany only): the same in every fold."""
        sel = B.feature_index(poolings)
        if ("knn", poolings) not in self._pca:  # one SVD per pooling, shared by every k and PCA size
            x, y = B.stack(self.feats, self.sets, B.FIT_SETS)
            xk = x[y == K]
            mu, sd = xk[:, sel].mean(0), np.maximum(xk[:, sel].std(0), 1e-3)
            z = (xk[:, sel] - mu) / sd
            self._pca[("knn", poolings)] = (xk, mu, sd, z.mean(0), np.linalg.svd(z - z.mean(0), full_matrices=False)[2])
        xk, mu, sd, zm, vt = self._pca[("knn", poolings)]
        proj = vt[:npca]

        def emb(a):
            e = (((a[:, sel] - mu) / sd) - zm) @ proj.T
            return e / np.linalg.norm(e, axis=1, keepdims=True) if cosine else e

        ref = emb(xk)

        def score(a):
            e = emb(a)
            d2 = np.maximum((e**2).sum(1)[:, None] + (ref**2).sum(1)[None] - 2 * e @ ref.T, 0)
            return np.sqrt(np.sort(d2, axis=1)[:, :k].mean(1))

        one = {n: (score(self.feats[n]), None) for n in MEAS} | {"cal": (score(self.x_cal), None)}
        out: dict = {None: one}
        for g in B.GROUPS:
            m, mp = self.sets["ext"]["group"] == g, self.sets["ext_photo"]["group"] == g
            out[g] = {n: (score(self.feats[n][m]), None) for n in EXT}
            out[g]["ext_photo"] = (score(self.feats["ext_photo"][mp]), None)
            out[g]["cal"], out[g]["yv"] = one["cal"], self.sets["ext"]["y"][m]
        return out


def logit(p):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def rule_any(q=99.5):
    def fit(cal):
        lp, ld = max(0.5, np.percentile(cal[0], q)), np.percentile(cal[1], q)
        return lambda s: (s[0] > lp) | (s[1] > ld)

    return fit


def rule_single(q=99.0):
    """One score alone (k-NN distance), its limit at the q-th percentile of the calibration films."""

    def fit(cal):
        lim = np.percentile(cal[0], q)
        return lambda s: s[0] > lim

    return fit


def rule_sum(q=99.0, wp=1.0, wd=1.0):
    """The builder's "sum": standardised log-odds + standardised log distance over one limit."""

    def fit(cal):
        a, b = logit(cal[0]), np.log(cal[1])

        def f(s):
            return wp * (logit(s[0]) - a.mean()) / a.std() + wd * (np.log(s[1]) - b.mean()) / b.std()

        lim = np.percentile(f(cal), q)
        return lambda s: f(s) > lim

    return fit


def report(name: str, col: dict, rule) -> None:
    keys = ("adult", "adult_k224", "adult_res", "lateral", "ct", "photo_ext")
    res: dict = {k: [] for k in keys}
    per = []
    for g in B.GROUPS:
        o = col[g]
        dec = rule(o["cal"])
        yv = o["yv"]
        adult = yv == B.K_ADULT
        w = dec(o["ext"])
        res["adult"].extend(w[adult])
        res["lateral"].extend(w[yv == B.K_LATERAL])
        res["ct"].extend(w[yv == B.K_NONCHEST])
        res["adult_k224"].extend(dec(o["ext_k224"])[adult])
        res["adult_res"].extend(dec(o["ext_res"])[adult])
        res["photo_ext"].extend(dec(o["ext_photo"]))
        per.append(f"{int(w[adult].sum())}/{int(adult.sum())}")
    r = {k: B.rate(v) for k, v in res.items()}
    dec = rule(col[None]["cal"])
    r |= {n: B.rate(dec(col[None][n])) for n in MEAS}
    print(
        f"| {name} | {B.fmt(r['adult'])} | {' '.join(per)} | {100 * r['adult_k224']['rate']:.1f} / "
        f"{100 * r['adult_res']['rate']:.1f} | {r['lateral']['withheld']}/{r['lateral']['n']} "
        f"{r['ct']['withheld']}/{r['ct']['n']} | {100 * r['photo_ext']['rate']:.1f} / "
        f"{100 * r['k_cal_photo']['rate']:.1f} / {100 * r['tp_photo']['rate']:.1f} | "
        f"{r['k_cal']['withheld']}+{r['k_cal_orig']['withheld']}/1600 | {r['test_public']['withheld']}/312 | "
        f"{r['native1024']['withheld']}/200 | {r['native']['withheld']}/20 | {r['dicom']['withheld']}/7 |",
        flush=True,
    )


HEADER = (
    "| variant | adult frontal, LOGO | cohen actualmed jsrt | same squashed / resized | lateral, CT | photos "
    "ext / Kermany cal / test_public (%) | calibration FA | test_public FA | native1024 FA | native FA | DICOMs |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=B.REPO / "runs" / "input_gate")
    ap.add_argument("--only", choices=("lr", "fuse", "taps", "knn"), default=None)
    args = ap.parse_args(argv)
    sw = Sweep(args.cache)
    print(HEADER, flush=True)
    fam = args.only
    if fam in (None, "lr"):
        for binary in (False, True):
            for npca in (32, 64, 128, 256):
                for c in (0.005, 0.01, 0.02, 0.05):
                    col = sw.collect(c=c, npca=npca, binary=binary)
                    report(f"{'binary' if binary else 'multinomial'} PCA {npca} C {c}, any", col, rule_any())
    if fam in (None, "fuse"):
        for cfg in ({}, {"binary": True, "c": 0.01}, {"c": 0.01}, {"npca": 64}):
            col = sw.collect(**cfg)
            tag = ", ".join(f"{k} {v}" for k, v in cfg.items()) or "as shipped before"
            report(f"{tag}: any", col, rule_any())
            report(f"{tag}: sum", col, rule_sum())
            report(f"{tag}: sum, distance x2", col, rule_sum(wd=2.0))
            report(f"{tag}: sum, log-odds x2", col, rule_sum(wp=2.0))
            report(f"{tag}: sum, budget 1.5 %", col, rule_sum(q=98.5))
            report(f"{tag}: any, budget 1.6 %", col, rule_any(q=99.2))
    if fam in (None, "taps"):
        for cfg in ({"taps": (16, 17, 18)}, {"taps": B.SHALLOW}, {"poolings": ("mean", "std")}):
            col = sw.collect(**cfg)
            tag = ", ".join(f"{k} {v}" for k, v in cfg.items())
            report(f"{tag}: any", col, rule_any())
            report(f"{tag}: sum", col, rule_sum())
    if fam in (None, "knn"):
        for pool in (B.ALL, ("mean",), ("mean", "std")):
            for npca in (32, 128):
                for k in (1, 5, 20):
                    for cosine in (False, True):
                        col = sw.knn(pool, npca=npca, k=k, cosine=cosine)
                        name = f"k-NN {'+'.join(pool)} PCA {npca} k {k} {'cosine' if cosine else 'euclidean'}"
                        report(name, col, rule_single())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
