"""Internals of :mod:`crm_predict.explain.treeshap`: reading LightGBM's tree dump, cutting trees
into units, and the compiled kernels (numba, cached on disk).

Rows arrive binned, feature-major: ``bins[f, r]`` is the bin of row ``r``'s value of
feature ``f`` among the breakpoints the model uses, so any split's decision is one look-up,
``dec[dec_off[n] + bin]`` (True: left).

TreeSHAP (Lundberg et al., arXiv:1706.06060, as LightGBM runs it with training counts as
covers) adds, at each leaf, terms for the leaf's unique path features that depend on the
row only through a bit mask: which of those features' path conditions the row meets.
:func:`_leaf_shap` computes those terms; summed over all leaves they are ``pred_contrib``.

A *unit* is a subtree. Its leaves' terms depend on the row only through a small key (the
mixed-radix number of each unit feature's *code*: bins that meet the same conditions share
a code), so :func:`fill_tables` tabulates every key once and :func:`explain_rows` scores a
row with one look-up per unit feature and one addition per output column.

``model`` is the tuple built by ``TreeEnsemble`` (all int64 unless noted; nodes, leaves and
local features are numbered per tree from 0):

0. ``trees[t]``: node start, node end, leaf start, leaf end, unit start, unit end, local
   feature start, end (into ``tfeat``).
1. ``units[u]``: first unit feature, end, table offset (-1: leaf explained per row), key
   space.
2. ``ufeat[e]``, 3. ``ulocal[e]``: a unit feature's model and local index; 4. ``ulut_off``
   (bin -> code * stride), 5. ``urep_off``, 6. ``urep`` (code -> representative bin),
   7. ``uradix``.
8. ``unit_leaf_off``, 9. ``unit_leaf``: each unit's leaves (global leaf index).
10. ``leaf_path_off``; 11. ``path_node``, 12. ``path_left``, 13. ``path_slot``: the
    root-to-leaf steps (local node, went left, which unique feature).
14. ``leaf_feat_off``, 15. ``leaf_feat`` (local feature), 16. ``leaf_z`` (float): unique
    path features and their zero fractions (cover ratios multiplied along the path).
17. ``local`` (a node's local feature), 18. ``dec_off``, 19. ``dec`` (bool),
20. ``leaf_value`` (float), 21. ``tfeat`` (a tree's features, local -> model index).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold: |x| <= it is zero
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


def walk(node: dict, nodes: list[dict], leaves: list[dict]) -> int:
    """Flatten one tree; internal nodes get ids >= 0, leaves ``~leaf_id`` as in LightGBM."""
    if "split_index" not in node:
        if "leaf_coeff" in node:
            raise NotImplementedError("linear trees (linear_tree=True) are not supported")
        leaves.append(node)
        return ~(len(leaves) - 1)
    me = len(nodes)
    nodes.append(node)
    node["_left"] = walk(node["left_child"], nodes, leaves)
    node["_right"] = walk(node["right_child"], nodes, leaves)
    return me


def decisions(node: dict, reps: np.ndarray) -> np.ndarray:
    """LightGBM's ``Decision`` (True = left) for each bin's representative value."""
    if node["decision_type"] == "==":
        # NaN and negatives go right (LightGBM casts to int; on x86 NaN becomes INT_MIN)
        cats = np.array([int(c) for c in str(node["threshold"]).split("||")])
        return np.isin(reps, cats) & ~np.isnan(reps)
    kind = _MISSING[node["missing_type"]]
    v = np.where(np.isnan(reps) & (kind != 2), 0.0, reps)
    missing = (kind == 1) & (np.abs(v) <= ZERO_THRESHOLD) | (kind == 2) & np.isnan(v)
    return np.where(missing, bool(node["default_left"]), v <= float(node["threshold"]))


def codes_of(conditions: list[np.ndarray]) -> np.ndarray:
    """Number the bins by the set of conditions (boolean rows over bins) they meet."""
    matrix = np.array(conditions)
    if matrix.shape[0] <= 62:
        packed = (matrix.astype(np.int64) << np.arange(matrix.shape[0])[:, None]).sum(0)
        return np.unique(packed, return_inverse=True)[1].ravel()
    return np.unique(matrix, axis=1, return_inverse=True)[1].ravel()


def split(nodes: list[dict], decs: list[np.ndarray], max_table: int) -> list[tuple]:
    """Cut a tree top-down into units ``(features, key_space, leaves)``.

    ``features`` pairs each feature the unit depends on with its bins' codes: bins meeting
    the same ancestors' conditions (jointly) and the same splits inside the unit share a
    code. A subtree is a unit once the product of its features' code counts is at most
    ``max_table``; a leaf above ``16 * max_table`` gets ``key_space = -1`` (explained per
    row).
    """
    units: list[tuple] = []
    stack: list[tuple[int, list[tuple[int, bool]]]] = [(0, [])] if nodes else []
    while stack:
        c, anc = stack.pop()
        rows: dict[int, list[np.ndarray]] = {}
        for m, went_left in anc:
            ok = decs[m] == went_left
            f = nodes[m]["split_feature"]
            rows[f] = [rows[f][0] & ok] if f in rows else [ok]
        below, inner = [], [c]
        while inner:
            m = inner.pop()
            if m < 0:
                below.append(~m)
                continue
            rows.setdefault(nodes[m]["split_feature"], []).append(decs[m])
            inner += [nodes[m]["_left"], nodes[m]["_right"]]
        # a leaf's table is cheap to fill (one leaf, memoised), so it may be 16 times larger
        limit = max_table if c >= 0 else 16 * max_table
        features, size = [], 1
        for f, conditions in rows.items():
            features.append((f, codes_of(conditions)))
            size *= int(features[-1][1].max()) + 1
            if size > limit and c >= 0:
                break
        if size <= limit or c < 0:
            units.append((features, size if size <= limit else -1, below))
        else:
            stack += [
                (nodes[c][side], [*anc, (c, side == "_left")]) for side in ("_right", "_left")
            ]
    return units


def leaf_paths(nodes: list[dict], leaves: list[dict]) -> list[tuple[list, list, list]]:
    """Per leaf: root-to-leaf steps ``(node, went left, slot)``, and the unique features on
    the path (first-seen order; ``slot`` indexes them) with their zero fractions, the
    products of the path's cover ratios that TreeSHAP uses."""
    paths: list[tuple[list, list, list]] = [([], [], []) for _ in leaves]

    def count(c: int) -> float:
        return float(nodes[c]["internal_count"] if c >= 0 else leaves[~c].get("leaf_count", 1))

    stack: list[tuple[int, list]] = [(0, [])] if nodes else []
    while stack:
        c, steps = stack.pop()
        if c >= 0:
            stack += [
                (nodes[c][side], [*steps, (c, side == "_left")]) for side in ("_left", "_right")
            ]
            continue
        path, features, zero = paths[~c]
        for m, went_left in steps:
            f = nodes[m]["split_feature"]
            ratio = count(nodes[m]["_left" if went_left else "_right"]) / count(m)
            if f in features:
                zero[features.index(f)] *= ratio
            else:
                features.append(f)
                zero.append(ratio)
            path.append((m, went_left, features.index(f)))
    return paths


@njit(cache=True, inline="always")
def _extend(pz, po, pw, depth, zero, one):
    pz[depth] = zero
    po[depth] = one
    pw[depth] = 1.0 if depth == 0 else 0.0
    for i in range(depth - 1, -1, -1):
        pw[i + 1] += one * pw[i] * (i + 1) / (depth + 1)
        pw[i] = zero * pw[i] * (depth - i) / (depth + 1)


@njit(cache=True)
def _leaf_shap(z, mask, value, phi, pz, po, pw):
    """One leaf's TreeSHAP terms, into ``phi[k]`` for its unique path feature ``k``.

    ``z[k]`` is feature ``k``'s zero fraction; the row meets its conditions (one fraction 1)
    when bit ``k`` of ``mask`` is set. Same arithmetic as LightGBM's ``UnwoundPathSum``.
    """
    d = z.shape[0]
    _extend(pz, po, pw, 0, 1.0, 1.0)
    for k in range(d):
        _extend(pz, po, pw, k + 1, z[k], float((mask >> k) & 1))
    for k in range(d):
        one, zero = po[k + 1], pz[k + 1]
        nxt = pw[d]
        total = 0.0
        for i in range(d - 1, -1, -1):
            if one != 0.0:
                tmp = nxt * (d + 1) / ((i + 1) * one)
                total += tmp
                nxt = pw[i] - tmp * zero * ((d - i) / (d + 1))
            else:
                total += (pw[i] / zero) / ((d - i) / (d + 1))
        phi[k] = total * (one - zero) * value


@njit(cache=True)
def _leaf_mask(model, leaf, n0, bin_of):
    """Which of the leaf's unique path features the row (local feature bins) satisfies."""
    path_off, path_node, path_left, path_slot = model[10], model[11], model[12], model[13]
    feat_off, local, dec_off, dec = model[14], model[17], model[18], model[19]
    mask = (1 << (feat_off[leaf + 1] - feat_off[leaf])) - 1
    for p in range(path_off[leaf], path_off[leaf + 1]):
        n = n0 + path_node[p]
        if dec[dec_off[n] + bin_of[local[n]]] != path_left[p]:
            mask &= ~(1 << path_slot[p])
    return mask


@njit(cache=True, nogil=True)
def fill_tables(model, first, last, max_features, memo_bits, tables):
    """Tabulate the tabled units of trees ``first:last``: row ``key`` of a unit's table holds
    its SHAP share per unit feature.

    A leaf's terms depend only on its mask, so each (leaf, mask) is computed once per unit
    (leaves with more than ``memo_bits`` unique features are recomputed per key).
    """
    trees, units, ulocal = model[0], model[1], model[3]
    urep_off, urep, uradix = model[5], model[6], model[7]
    unit_leaf_off, unit_leaf, feat_off, leaf_feat = model[8], model[9], model[14], model[15]
    leaf_z, leaf_value = model[16], model[20]
    for t in range(first, last):
        bin_of = np.zeros(max_features, np.int64)
        column = np.zeros(max_features, np.int64)
        phi = np.empty(max_features)
        pz = np.empty(max_features + 2)
        po = np.empty(max_features + 2)
        pw = np.empty(max_features + 2)
        for u in range(trees[t, 4], trees[t, 5]):
            if units[u, 2] < 0:
                continue
            e0, e1, width = units[u, 0], units[u, 1], units[u, 1] - units[u, 0]
            for e in range(e0, e1):
                column[ulocal[e]] = e - e0
            a0, a1 = unit_leaf_off[u], unit_leaf_off[u + 1]
            memo_off = np.zeros(a1 - a0 + 1, np.int64)
            for i in range(a1 - a0):
                d = feat_off[unit_leaf[a0 + i] + 1] - feat_off[unit_leaf[a0 + i]]
                memo_off[i + 1] = memo_off[i] + ((1 << d) * d if d <= memo_bits else 0)
            memo = np.empty(memo_off[-1])
            done = np.zeros(memo_off[-1], np.bool_)
            for key in range(units[u, 3]):
                rest = key
                for e in range(e0, e1):
                    bin_of[ulocal[e]] = urep[urep_off[e] + rest % uradix[e]]
                    rest //= uradix[e]
                row = units[u, 2] + key * width
                tables[row : row + width] = 0.0
                for i in range(a1 - a0):
                    leaf = unit_leaf[a0 + i]
                    k0, k1 = feat_off[leaf], feat_off[leaf + 1]
                    d = k1 - k0
                    mask = _leaf_mask(model, leaf, trees[t, 0], bin_of)
                    at = memo_off[i] + mask * d
                    if d > memo_bits or not done[at]:
                        _leaf_shap(leaf_z[k0:k1], mask, leaf_value[leaf], phi, pz, po, pw)
                        if d <= memo_bits:
                            memo[at : at + d] = phi[:d]
                            done[at] = True
                    for k in range(d):
                        value = phi[k] if d > memo_bits else memo[at + k]
                        tables[row + column[leaf_feat[k0 + k]]] += value


@njit(cache=True)
def group_tables(model, tables, columns, goff, gcol_off, gcol, gtables):
    """Sum each unit's table columns that share an output column (``gcol`` per unit)."""
    units, ufeat = model[1], model[2]
    for u in range(units.shape[0]):
        if goff[u] < 0:
            continue
        e0, e1, g0, g1 = units[u, 0], units[u, 1], gcol_off[u], gcol_off[u + 1]
        for key in range(units[u, 3]):
            src = units[u, 2] + key * (e1 - e0)
            dst = goff[u] + key * (g1 - g0)
            gtables[dst : dst + g1 - g0] = 0.0
            for e in range(e0, e1):
                for j in range(g1 - g0):
                    if gcol[g0 + j] == columns[ufeat[e]]:
                        gtables[dst + j] += tables[src + e - e0]


@njit(cache=True, nogil=True)
def explain_rows(model, bins, first, last, columns, max_features, grouped, tabled, out):
    """Add every tree's SHAP values of binned rows ``first:last`` into ``out[column, row]``.

    ``grouped`` = (glut, goff, gcol_off, gcol, gtables). A tabled unit costs, per row, one
    look-up per unit feature (``glut``: bin -> code * stride * width) and one addition per
    output column it touches (its grouped table row at ``goff[u] + key``; columns
    ``gcol[gcol_off[u]:gcol_off[u + 1]]``). Leaves without a table, and every leaf when
    ``tabled`` is False (plain per-row TreeSHAP: the baseline), get their terms computed
    for the row itself. Each unit goes over all the rows before
    the next unit, so that its table stays in cache (a few thousand rows at a time suit).
    """
    trees, units, ufeat, ulut_off = model[0], model[1], model[2], model[4]
    glut, goff, gcol_off, gcol, gtables = grouped
    unit_leaf_off, unit_leaf, feat_off, leaf_feat = model[8], model[9], model[14], model[15]
    leaf_z, leaf_value, tfeat = model[16], model[20], model[21]
    r0, n = first, last - first
    key = np.empty(n, np.int64)
    bin_of = np.empty(max_features, np.int64)
    phi = np.empty(max_features)
    pz = np.empty(max_features + 2)
    po = np.empty(max_features + 2)
    pw = np.empty(max_features + 2)
    for t in range(trees.shape[0]):
        f0, f1 = trees[t, 6], trees[t, 7]
        for u in range(trees[t, 4], trees[t, 5]):
            if goff[u] >= 0 and tabled:
                e0 = units[u, 0]
                lut = glut[ulut_off[e0] :]
                row = bins[ufeat[e0], r0 : r0 + n]
                for i in range(n):
                    key[i] = goff[u] + lut[row[i]]
                for e in range(e0 + 1, units[u, 1]):
                    lut = glut[ulut_off[e] :]
                    row = bins[ufeat[e], r0 : r0 + n]
                    for i in range(n):
                        key[i] += lut[row[i]]
                for j in range(gcol_off[u + 1] - gcol_off[u]):
                    dst = out[gcol[gcol_off[u] + j], r0 : r0 + n]
                    for i in range(n):
                        dst[i] += gtables[key[i] + j]
                continue
            for i in range(n):
                for k in range(f1 - f0):
                    bin_of[k] = bins[tfeat[f0 + k], r0 + i]
                for a in range(unit_leaf_off[u], unit_leaf_off[u + 1]):
                    leaf = unit_leaf[a]
                    k0, k1 = feat_off[leaf], feat_off[leaf + 1]
                    mask = _leaf_mask(model, leaf, trees[t, 0], bin_of)
                    _leaf_shap(leaf_z[k0:k1], mask, leaf_value[leaf], phi, pz, po, pw)
                    for k in range(k1 - k0):
                        out[columns[tfeat[f0 + leaf_feat[k0 + k]]], r0 + i] += phi[k]
