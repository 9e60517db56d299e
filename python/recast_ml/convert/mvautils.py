"""ATLAS MVAUtils LightGBM forests in ROOT files -> ONNX (``TreeEnsembleRegressor`` + ``Softmax``).

MVAUtils (athena ``Reconstruction/MVAUtils``; the format written by its
``convertLGBMToRootTree.py``) stores a forest as one ``TTree``; this module reads it with
**uproot** (no ROOT, no hand-written ROOT parsing; spec ATLAS-SUSY-2019-02 §7.2):

* the tree *title* is the metadata, ``key=value`` items separated by ``;`` (split at the first
  ``=``): ``creator=lgbm``, ``node_type=lgbm_simple`` or ``lgbm``, ``num_class``,
  ``num_tree_per_iteration``, ``max_feature_idx``, ``objective``, ``average_output``,
  ``feature_infos`` (a Python-dict literal: feature names, in input order, with their training
  ranges), ``feature_importances``, ...;
* one entry = one decision tree; entry k belongs to class ``k % num_class``;
* branches ``vars`` (``vector<int>``: split feature per node, -1 = leaf) and ``values``
  (``vector<float>``: threshold per internal node, raw-score contribution per leaf); node type
  ``lgbm`` also has ``default_left`` (``vector<bool>``: where a NaN input goes);
* nodes in pre-order: the left child of internal node i is i + 1, the right child the first node
  after the left subtree (MVAUtils' stack rule).

MVAUtils' ``NodeLGBMSimple`` goes left if ``x[var] <= threshold``, comparing float32 (the inputs
are converted to float32; thresholds are float32 on disk); a NaN goes right (``NodeLGBM``: the
``default_left`` side). The ONNX graph keeps exactly that: the input tensor is float32, the
ensemble compares float32 inputs with the float32 thresholds (``BRANCH_LEQ``; ONNX float
attributes are float32, so the thresholds are bit-identical to the file's),
``nodes_missing_value_tracks_true`` is 0 (NaN right) or ``default_left``. Per class the leaf values
are summed (float32 in ONNX Runtime as in MVAUtils; only the summation order may differ, ~1e-7);
there is no base score (LightGBM folds it into the first trees).

Graph (one input, two outputs):

* ``input``: float32 ``[N, n_features]`` in the order of ``feature_infos`` (the names are the
  metadata ``input:input``, checked against model cards);
* ``raw_scores``: float32 ``[N, n_classes]``, the per-class sums of leaf values;
* ``probabilities``: float32 ``[N, n_classes]``, ``Softmax(raw_scores)`` for ``num_class`` > 1
  (MVAUtils ``GetMultiResponse``); for a one-class forest ``1 / (1 + exp(-raw))`` (MVAUtils
  ``GetClassification``).

Not supported (ModelError): other MVAUtils creators (TMVA, XGBoost forests), ``average_output=True``
(random-forest mode), ``num_tree_per_iteration`` different from ``num_class``. Every problem with a
file -- not a ROOT file, truncated or damaged, no forest tree, inconsistent node arrays -- is a
:class:`recast_ml.ModelError` naming the file and the element (tree name, entry, node, branch).
"""

from __future__ import annotations

import ast
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._core import ModelError

log = logging.getLogger(__name__)

ROOT_MAGIC = b"root"
NODE_TYPES = ("lgbm_simple", "lgbm")
MAX_FEATURES = 1 << 20  # a larger input width is a damaged title, not a model
INPUT = "input"
RAW = "raw_scores"
PROBABILITIES = "probabilities"


@dataclass
class MvaTree:
    """One decision tree: per node (pre-order) the split feature (-1 = leaf), the threshold or
    leaf value (float32), the right child (absolute index; -1 for leaves) and, for node type
    ``lgbm``, the NaN direction."""

    feature: npt.NDArray[np.int32]
    value: npt.NDArray[np.float32]
    right: npt.NDArray[np.int64]
    default_left: npt.NDArray[np.bool_] | None
    depth: int


@dataclass
class MvaForest:
    source: str
    tree_name: str
    meta: dict[str, str]
    node_type: str
    n_classes: int
    n_features: int
    feature_names: list[str] | None
    trees: list[MvaTree] = field(default_factory=list)

    @property
    def n_nodes(self) -> int:
        return sum(len(t.feature) for t in self.trees)

    @property
    def max_depth(self) -> int:
        return max(t.depth for t in self.trees)


def parse_title(title: str) -> dict[str, str]:
    """The ``key=value`` items of an MVAUtils tree title (split at the first ``=``)."""
    out: dict[str, str] = {}
    for item in title.split(";"):
        if "=" in item:
            key, value = item.split("=", 1)
            out[key.strip()] = value
    return out


def is_root_file(head: bytes) -> bool:
    return head.startswith(ROOT_MAGIC)


def right_children(feature: npt.NDArray[np.int32], src: str, where: str) -> tuple[npt.NDArray[np.int64], int]:
    """Absolute right-child index of every internal node (-1 for leaves) and the depth, from the
    pre-order node list (MVAUtils ``computeRight``: a stack of the internal nodes whose right
    child is still unknown; after a leaf at i, node i + 1 is the right child of the top). A list
    that is not one complete binary tree in pre-order is a ModelError."""
    right = np.full(len(feature), -1, dtype=np.int64)
    stack: list[int] = [-1]
    depths: list[int] = [0]  # depth of the node each open slot belongs to
    depth = 0
    for i, v in enumerate(feature.tolist()):
        if not stack:
            raise ModelError(
                f"{where}: the tree is complete at node {i - 1}, but there are {len(feature)} nodes "
                "(inconsistent pre-order node list)",
                file=src,
            )
        d = depths.pop()
        depth = max(depth, d)
        if v >= 0:
            stack.append(i)
            depths += [d + 1, d + 1]  # right slot below the left one
        else:
            parent = stack.pop()
            if parent >= 0:
                right[parent] = i + 1
    if stack:
        raise ModelError(
            f"{where}: {len(feature)} nodes end before the tree is complete ({len(stack)} subtree(s) missing; "
            "inconsistent pre-order node list)",
            file=src,
        )
    return right, depth


def _int_meta(meta: dict[str, str], key: str, default: int | None, src: str, where: str) -> int:
    if key not in meta:
        if default is None:
            raise ModelError(f"{where}: the title has no {key}=", file=src)
        return default
    try:
        return int(meta[key])
    except ValueError:
        raise ModelError(f"{where}: {key}={meta[key]!r} is not an integer", file=src) from None


def _feature_names(meta: dict[str, str], src: str, where: str) -> list[str] | None:
    text = meta.get("feature_infos")
    if text is None:
        return None
    try:
        infos = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise ModelError(f"{where}: feature_infos in the title is not a readable dict literal", file=src) from None
    if not isinstance(infos, dict) or not all(isinstance(k, str) for k in infos):
        raise ModelError(f"{where}: feature_infos in the title is not a dict of feature names", file=src)
    return list(infos)


def _open_error(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}"[:300] if text else type(e).__name__


def find_forest_tree(path: str | os.PathLike[str], *, source: str | None = None) -> tuple[Any, str, dict[str, str]]:
    """(open uproot file, tree name, title metadata) of the MVAUtils forest in a ROOT file; a
    ROOT file with no (or more than one) TTree, or whose TTree title is not MVAUtils metadata,
    is a ModelError listing what the file holds. The caller closes the file."""
    import uproot

    src = source or str(path)
    try:
        f = uproot.open(path)
    except Exception as e:  # uproot raises many types on damaged bytes (ValueError, OSError, ...)
        raise ModelError(f"not a readable ROOT file ({_open_error(e)})", file=src) from e
    try:
        try:
            end, size = int(f.file.fEND), os.path.getsize(path)
        except (AttributeError, OSError, TypeError, ValueError):
            end = size = 0
        if size < end:  # the trailing records (free-segment list) are not read: check the length
            raise ModelError(f"truncated ROOT file: {size} bytes, its header says {end}", file=src)
        try:
            classes = {k.split(";")[0]: c for k, c in f.classnames().items()}
        except Exception as e:
            raise ModelError(f"ROOT file directory not readable ({_open_error(e)})", file=src) from e
        trees = sorted({k for k, c in classes.items() if c in ("TTree", "TNtuple")})
        held = ", ".join(f"{k} ({c})" for k, c in sorted(classes.items())) or "nothing"
        if len(trees) != 1:
            what = "no TTree" if not trees else f"{len(trees)} TTrees"
            raise ModelError(
                f"not an MVAUtils forest: the ROOT file holds {what}, expected exactly one (it holds: {held})",
                file=src,
            )
        name = trees[0]
        try:
            title = str(f[name].title)
        except Exception as e:
            raise ModelError(f"TTree {name!r} not readable ({_open_error(e)})", file=src) from e
        meta = parse_title(title)
        if "creator" not in meta or "node_type" not in meta:
            raise ModelError(
                f"not an MVAUtils forest: the title of TTree {name!r} has no creator=/node_type= metadata "
                f"(title {title[:60]!r})",
                file=src,
            )
    except BaseException:
        f.close()
        raise
    return f, name, meta


def sniff(path: str | os.PathLike[str], *, source: str | None = None) -> str:
    """The format name "mvautils" for a ROOT file holding an MVAUtils forest; any other ROOT file
    is a ModelError saying what it holds."""
    f, _, _ = find_forest_tree(path, source=source)
    f.close()
    return "mvautils"


def read_mvautils(path: str | os.PathLike[str], *, source: str | None = None) -> MvaForest:
    """Reads and checks an MVAUtils LightGBM forest (see the module docstring)."""
    src = source or str(path)
    f, name, meta = find_forest_tree(path, source=src)
    with f:
        where = f"TTree {name!r}"
        creator, node_type = meta["creator"], meta["node_type"]
        if creator != "lgbm" or node_type not in NODE_TYPES:
            raise ModelError(
                f"{where}: MVAUtils forest creator={creator} node_type={node_type} is not supported "
                "(only creator=lgbm with node_type=lgbm_simple or lgbm)",
                file=src,
            )
        n_classes = _int_meta(meta, "num_class", 1, src, where)
        per_iteration = _int_meta(meta, "num_tree_per_iteration", n_classes, src, where)
        if n_classes < 1 or per_iteration != n_classes:
            raise ModelError(
                f"{where}: num_class={n_classes}, num_tree_per_iteration={per_iteration}: expected equal and >= 1",
                file=src,
            )
        if meta.get("average_output", "False").strip() not in ("False", "false", "0", ""):
            raise ModelError(
                f"{where}: average_output={meta['average_output']} (random forest) is not supported", file=src
            )
        names = _feature_names(meta, src, where)
        if "max_feature_idx" in meta:
            n_features = _int_meta(meta, "max_feature_idx", None, src, where) + 1
        elif names is not None:
            n_features = len(names)
        else:
            raise ModelError(f"{where}: the title has neither max_feature_idx= nor feature_infos=", file=src)
        if not 1 <= n_features <= MAX_FEATURES:
            raise ModelError(
                f"{where}: max_feature_idx={n_features - 1}: expected 0..{MAX_FEATURES - 1} (the input width)", file=src
            )
        if names is not None and len(names) != n_features:
            raise ModelError(
                f"{where}: feature_infos names {len(names)} features, max_feature_idx={n_features - 1}", file=src
            )
        branches = ["vars", "values"] + (["default_left"] if node_type == "lgbm" else [])
        try:
            tree = f[name]
            have = set(tree.keys())
        except Exception as e:
            raise ModelError(f"{where} not readable ({_open_error(e)})", file=src) from e
        missing = [b for b in branches if b not in have]
        if missing:
            raise ModelError(
                f"{where}: no branch {', '.join(missing)} (node_type={node_type} needs {', '.join(branches)}; "
                f"branches: {', '.join(sorted(have)) or 'none'})",
                file=src,
            )
        columns: dict[str, Any] = {}
        for b in branches:
            try:
                columns[b] = tree[b].array(library="np")
            except Exception as e:
                raise ModelError(f"{where} branch {b!r}: cannot read the entries ({_open_error(e)})", file=src) from e
    n_trees = len(columns["vars"])
    for b in branches:
        if len(columns[b]) != n_trees:
            raise ModelError(f"{where}: branch {b!r} has {len(columns[b])} entries, 'vars' {n_trees}", file=src)
    if n_trees == 0:
        raise ModelError(f"{where}: no trees (0 entries)", file=src)
    if n_trees % n_classes:
        raise ModelError(f"{where}: {n_trees} trees is not a multiple of num_class={n_classes}", file=src)
    forest = MvaForest(src, name, meta, node_type, n_classes, n_features, names)
    for k in range(n_trees):
        at = f"{where} entry {k} (tree {k}, class {k % n_classes})"
        feature_in = _vector(columns["vars"][k], src, f"{at} branch 'vars'")
        value_in = _vector(columns["values"][k], src, f"{at} branch 'values'")
        if feature_in.dtype.kind not in "iu":
            raise ModelError(f"{at} branch 'vars': {feature_in.dtype} values, expected integers", file=src)
        if value_in.dtype.kind != "f":
            raise ModelError(f"{at} branch 'values': {value_in.dtype} values, expected floats", file=src)
        if len(feature_in) == 0:
            raise ModelError(f"{at}: no nodes", file=src)
        if len(value_in) != len(feature_in):
            raise ModelError(f"{at}: 'vars' has {len(feature_in)} nodes, 'values' {len(value_in)}", file=src)
        feature = feature_in.astype(np.int32)
        with np.errstate(over="ignore"):
            value = value_in.astype(np.float32)
        bad = np.nonzero((feature < -1) | (feature >= n_features))[0]
        if len(bad):
            i = int(bad[0])
            raise ModelError(
                f"{at} node {i}: split feature {int(feature_in[i])}, expected -1 (leaf) or 0..{n_features - 1}",
                file=src,
            )
        bad = np.nonzero(~np.isfinite(value))[0]
        if len(bad):
            i = int(bad[0])
            kind = "leaf value" if feature[i] < 0 else "threshold"
            raise ModelError(f"{at} node {i}: {kind} {value_in[i]} is not a finite float32", file=src)
        default_left = None
        if node_type == "lgbm":
            dl = _vector(columns["default_left"][k], src, f"{at} branch 'default_left'")
            if len(dl) != len(feature):
                raise ModelError(f"{at}: 'vars' has {len(feature)} nodes, 'default_left' {len(dl)}", file=src)
            default_left = dl.astype(bool)
        right, depth = right_children(feature, src, at)
        forest.trees.append(MvaTree(feature, value, right, default_left, depth))
    return forest


def _vector(entry: Any, src: str, where: str) -> npt.NDArray[Any]:
    try:
        arr = np.asarray(entry)
    except Exception as e:
        raise ModelError(f"{where}: not a vector of numbers ({_open_error(e)})", file=src) from e
    if arr.ndim != 1:
        raise ModelError(f"{where}: expected a vector of numbers, got shape {arr.shape}", file=src)
    return arr


def forest_to_onnx(forest: MvaForest, *, input_name: str = INPUT) -> Any:
    """The ONNX model of a read forest (graph described in the module docstring)."""
    import onnx
    from onnx import TensorProto, helper

    attrs: dict[str, list[Any]] = {
        k: []
        for k in (
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_values",
            "nodes_modes",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "nodes_missing_value_tracks_true",
            "target_treeids",
            "target_nodeids",
            "target_ids",
            "target_weights",
        )
    }
    nc = forest.n_classes
    for t, tree in enumerate(forest.trees):
        n = len(tree.feature)
        leaf = tree.feature < 0
        attrs["nodes_treeids"] += [t] * n
        attrs["nodes_nodeids"] += list(range(n))
        attrs["nodes_featureids"] += np.where(leaf, 0, tree.feature).tolist()
        # float32 -> Python float is exact; onnx stores float attributes as float32 again
        attrs["nodes_values"] += np.where(leaf, np.float32(0), tree.value).astype(np.float32).tolist()
        attrs["nodes_modes"] += ["LEAF" if x else "BRANCH_LEQ" for x in leaf.tolist()]
        attrs["nodes_truenodeids"] += np.where(leaf, 0, np.arange(n) + 1).tolist()
        attrs["nodes_falsenodeids"] += np.where(leaf, 0, tree.right).tolist()
        tracks = np.zeros(n, dtype=np.int64) if tree.default_left is None else (tree.default_left & ~leaf).astype(int)
        attrs["nodes_missing_value_tracks_true"] += tracks.tolist()
        leaves = np.nonzero(leaf)[0]
        attrs["target_treeids"] += [t] * len(leaves)
        attrs["target_nodeids"] += leaves.tolist()
        attrs["target_ids"] += [t % nc] * len(leaves)
        attrs["target_weights"] += tree.value[leaves].astype(np.float32).tolist()
    extra: dict[str, Any] = attrs
    ensemble = helper.make_node(
        "TreeEnsembleRegressor",
        [input_name],
        [RAW],
        domain="ai.onnx.ml",
        n_targets=nc,
        aggregate_function="SUM",
        post_transform="NONE",
        **extra,
    )
    if nc > 1:
        squash = helper.make_node("Softmax", [RAW], [PROBABILITIES], axis=-1)
    else:
        squash = helper.make_node("Sigmoid", [RAW], [PROBABILITIES])
    file_name = Path(forest.source).name
    names = forest.feature_names
    graph = helper.make_graph(
        [ensemble, squash],
        f"mvautils_{Path(forest.source).stem}".replace("-", "_"),
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", forest.n_features])],
        [
            helper.make_tensor_value_info(RAW, TensorProto.FLOAT, ["N", nc]),
            helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, ["N", nc]),
        ],
        doc_string=(
            f"MVAUtils {forest.meta.get('creator')}/{forest.node_type} forest ({len(forest.trees)} trees, "
            f"{nc} classes) from {file_name}; {RAW} = per-class leaf sums, {PROBABILITIES} = "
            f"{'softmax' if nc > 1 else 'sigmoid'}" + (f"; inputs: {', '.join(names)}" if names else "")
        ),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="recast_ml.convert.mvautils",
    )
    model.ir_version = 8
    meta = {
        "source": file_name,
        "format": "ATLAS MVAUtils ROOT forest",
        "tree": forest.tree_name,
        "creator": forest.meta.get("creator", ""),
        "node_type": forest.node_type,
        "objective": forest.meta.get("objective", ""),
        "num_class": str(nc),
        "trees": str(len(forest.trees)),
        "iterations": str(len(forest.trees) // nc),
        "features": str(forest.n_features),
        "nodes": str(forest.n_nodes),
        "max_depth": str(forest.max_depth),
        "outputs": f"{RAW}: [N, {nc}] per-class raw scores; {PROBABILITIES}: [N, {nc}] "
        + ("softmax over the classes (MVAUtils GetMultiResponse)" if nc > 1 else "sigmoid (GetClassification)"),
    }
    for key in ("version", "label_index", "average_output"):
        if key in forest.meta:
            meta[key] = forest.meta[key]
    if names is not None:
        meta["inputs"] = ", ".join(names)
        meta[f"input:{input_name}"] = json.dumps(names)
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model


def mvautils_to_onnx(path: str | os.PathLike[str], *, input_name: str = INPUT, source: str | None = None) -> Any:
    """ONNX model of an MVAUtils LightGBM ROOT file: ``input`` float32 [N, n_features] ->
    ``raw_scores`` and ``probabilities`` float32 [N, n_classes]. ``source``: the name errors
    report (default ``path``)."""
    from . import malformed

    src = source or str(path)
    with malformed("mvautils", src):
        forest = read_mvautils(path, source=src)
        log.debug(
            "MVAUtils forest %s: %d trees, %d classes, %d nodes",
            src,
            len(forest.trees),
            forest.n_classes,
            forest.n_nodes,
        )
        return forest_to_onnx(forest, input_name=input_name)


__all__ = [
    "INPUT",
    "PROBABILITIES",
    "RAW",
    "MvaForest",
    "MvaTree",
    "find_forest_tree",
    "forest_to_onnx",
    "is_root_file",
    "mvautils_to_onnx",
    "parse_title",
    "read_mvautils",
    "right_children",
    "sniff",
]
