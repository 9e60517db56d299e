"""The compact constructs of the analysis-definition language, expanded into the plain form the
loader compiles (``analyses/README.md``, "Compact forms"). :func:`expand` rewrites a parsed,
schema-validated document; every generated string keeps the file position of the text it was
made from (a :class:`~recast_ml.analysis.Located`), so errors in generated cuts, inputs and cards
still name the line and column of the compact form.

* **bare cuts** — a cut given as an expression string is labelled by its own text::

      cuts: [m_lj < 155]                        ->  cuts: [{"m_lj < 155": m_lj < 155}]

* **list-valued model inputs** — an input whose ``expr`` takes a field of a slice with literal
  bounds, ``[a:b].field``, outside any list-reducing call (``sum``, ``all``, ``HT``, ...: only
  operators and element-wise functions around it) is one feature per element ``k`` in
  ``a..b-1``, those slices replaced by ``[k]``; names ``<name><k>`` (``{i}`` in the name is
  replaced by ``k`` instead) or a ``names:`` list; ``pad``, ``offset``/``scale``, ``mean``/``std``
  a number or one per element::

      {name: jetPt, expr: "sig_jets[0:4].pt", pad: 0}
          ->  {name: jetPt0, expr: "sig_jets[0].pt", pad: 0} ... {name: jetPt3, ...}

  each element's expression is a :class:`ListElement` that keeps the text as written, so that
  :func:`element_error` turns the core's error in it (which quotes the element, ``sig_jets[0].pt``,
  and counts the column there) into one about the list form, and which element it is.

* **model-card templates** — ``model_templates: {NAME: partial card}`` and ``template: NAME`` in
  a card (or in another template): the card's keys replace the template's; mappings (``outputs``,
  ``tensors``) are merged key by key and may only override keys the template has; ``{model}`` in
  a template's strings becomes the card's name, and ``{<key>}`` the value of ``<key>`` in the
  card's ``arguments`` mapping (e.g. the parameter point of a parametrised network)::

      NN_Gtt_2100_1: {template: pnn, arguments: {isGtt: 1, mGluino: 2100, mLSP: 1}}
          # the template's input {name: mGluino, expr: "{mGluino}"} -> expr: "2100"

* **normalisation files** — ``normalisation: {file: F}`` in a card: ``(x - mean) / std`` of each
  input by its name from ``F`` (beside the definition): a JSON with ``branches`` and
  ``normalization: {mean: [...], stddev: [...]}`` (SimpleAnalysis/CheckMATE NN configurations)
  or a CSV with columns ``name`` (or ``branch``), ``mean``, ``std`` (or ``stddev``); inputs with
  their own ``mean``/``offset`` keep them; an input the file does not name is an error.

* **split regions** — ``split:`` on a region makes one region per bin (1-D) or cell (N-D) of
  ``[lo, hi)`` intervals; the name (and ``published``, ``description``) is a pattern with one
  ``{dim}`` per dimension (the lower edge, or the dimension's ``names``); each region gets the
  region's own cuts, then one cut ``"<label> in [lo, hi)": <variable> >= lo and <variable> < hi``
  per dimension (one side only for an infinite edge). In two dimensions the edges of one may be
  given per bin of the other (a list of edge lists: merged or missing cells). Regions are
  emitted ordered by their lower edges, the first dimension first.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._core import ConfigError
from .analysis import Located, _first_line

__all__ = ["ListElement", "element_error", "expand"]

_SLICE = re.compile(r"\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*\.\s*[A-Za-z_]")  # a field of the objects of a slice
# functions applied element by element to a number list (the others reduce a list or take objects)
_ELEMENTWISE = frozenset(
    {"", "abs", "sqrt", "exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "atan2", "pow", "if"}
    | {"and", "or", "not"}  # operators before a parenthesis
)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\[\]:]*$")  # needs no parentheses before `>=`
_PER_ELEMENT = ("pad", "offset", "scale", "mean", "std")
_MAX_ELEMENTS = 4096  # features of one list-valued input
_MAX_CELLS = 10000  # regions of one split
_Bin = tuple[float | int, float | int, str]  # lower edge, upper edge, name in patterns


class _Where:
    """Locates errors in one file: the position of a Located string, or of a mapping's key."""

    def __init__(self, path: Path) -> None:
        self.file = str(path)

    def error(self, message: str, at: Any = None) -> ConfigError:
        if isinstance(at, Located):
            return ConfigError(message, file=self.file, line=at.line, column=at.col)
        return ConfigError(message, file=self.file, line=_first_line(at))


def _key(d: Mapping[Any, Any], name: str) -> Any:
    """The key object (a Located string: its position) of ``name`` in ``d``, else ``d``."""
    return next((k for k in d if k == name), d)


def _like(text: str, origin: Any) -> Any:
    """``text`` at the position of ``origin`` (when that is Located)."""
    if isinstance(origin, Located):
        return Located(text, origin.line, origin.col)
    return text


def expand(doc: dict[Any, Any], path: str | Path) -> dict[Any, Any]:
    """The document with every compact construct expanded (the input is not modified). Raises
    :class:`ConfigError` naming ``path``, line and column for a construct that cannot be expanded."""
    where = _Where(Path(path))
    out = dict(doc)
    templates = out.pop("model_templates", None) or {}
    if "models" in out:
        models = {}
        for name, card in out["models"].items():
            merged = _apply_template(str(name), card, templates, where, ())
            arguments = merged.pop("arguments", None)
            if arguments:
                merged = _substitute_arguments(merged, arguments)
            models[name] = _expand_card(name, merged, where)
        out["models"] = models
    if "regions" in out:
        regions: list[Any] = []
        for r in out["regions"]:
            cells = _split(r, where) if "split" in r else [r]
            for cell in cells:
                if "cuts" in cell or "bins" in cell:
                    cell = dict(cell)
                if "cuts" in cell:
                    cell["cuts"] = [_bare_cut(c) for c in cell["cuts"]]
                if "bins" in cell:
                    cell["bins"] = _bins(cell, where)
                regions.append(cell)
        out["regions"] = regions
    return out


# ------------------------------------------------------------------------------------------------
# cuts
# ------------------------------------------------------------------------------------------------
def _bare_cut(c: Any) -> Any:
    if isinstance(c, str):  # the label is the expression
        return {c: c}
    return c


# ------------------------------------------------------------------------------------------------
# model cards
# ------------------------------------------------------------------------------------------------
def _apply_template(
    name: str, card: dict[Any, Any], templates: Mapping[Any, Any], where: _Where, chain: tuple[str, ...]
) -> dict[Any, Any]:
    if "template" not in card:
        return card
    ref = card["template"]
    tname = str(ref)
    what = f"model {name!r}" if not chain else f"template {chain[-1]!r}"
    if tname not in templates:
        known = ", ".join(str(t) for t in templates) or "none"
        raise where.error(f"{what}: no model template {tname!r} (model_templates: {known})", ref)
    if tname in chain:
        raise where.error(f"circular model templates {' -> '.join((*chain, tname))}", ref)
    base = _apply_template(name, templates[tname], templates, where, (*chain, tname))
    base = _substitute_model(base, name)
    own = {k: v for k, v in card.items() if k != "template"}
    return _merge(own, base, f"{what} (template {tname!r})", where, "")


def _substitute_model(x: Any, model: str) -> Any:
    if isinstance(x, str):
        return _like(x.replace("{model}", model), x) if "{model}" in x else x
    if isinstance(x, Mapping):
        return {k: _substitute_model(v, model) for k, v in x.items()}
    if isinstance(x, list):
        return [_substitute_model(v, model) for v in x]
    return x


def _substitute_arguments(x: Any, arguments: Mapping[Any, Any]) -> Any:
    """``{key}`` in every string of ``x`` replaced by the argument's value (as written)."""
    if isinstance(x, str):
        text = str(x)
        for k, v in arguments.items():
            text = text.replace("{" + str(k) + "}", _arg_text(v))
        return _like(text, x) if text != x else x
    if isinstance(x, Mapping):
        return {k: _substitute_arguments(v, arguments) for k, v in x.items()}
    if isinstance(x, list):
        return [_substitute_arguments(v, arguments) for v in x]
    return x


def _arg_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return repr(v)
    return str(v)


def _normalisation(card_name: str, spec: Mapping[Any, Any], where: _Where) -> dict[str, tuple[float, float]]:
    """name -> (mean, std) from a normalisation file (JSON config or CSV), see the module doc."""
    import csv
    import json

    ref = spec["file"]
    path = Path(where.file).parent / str(ref)
    label = f"model {card_name!r}: normalisation file {str(ref)!r}"
    try:
        text = path.read_text()
    except OSError as e:
        raise where.error(f"{label}: cannot read {path}: {e.strerror}", ref) from None
    out: dict[str, tuple[float, float]] = {}
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
            names, norm = doc["branches"], doc["normalization"]
            means, stds = norm["mean"], norm["stddev"]
            if not (len(names) == len(means) == len(stds)):
                raise ValueError(f"{len(names)} branches, {len(means)} means, {len(stds)} stddevs")
            rows = zip(names, means, stds, strict=True)
        else:
            reader = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
            fields = reader.fieldnames or []
            nk = "name" if "name" in fields else "branch"
            sk = "std" if "std" in fields else "stddev"
            rows = ((r[nk], r["mean"], r[sk]) for r in reader)  # type: ignore[assignment]
        for name, mean, std in rows:
            m, sd = float(mean), float(std)
            if not (math.isfinite(m) and math.isfinite(sd) and sd > 0):
                raise ValueError(f"{name}: mean {mean}, std {std} (std must be positive)")
            out[str(name)] = (m, sd)
    except (KeyError, TypeError, ValueError) as e:
        raise where.error(f"{label}: not a normalisation file ({type(e).__name__}: {e})", ref) from None
    return out


def _merge(own: Mapping[Any, Any], base: Mapping[Any, Any], what: str, where: _Where, prefix: str) -> dict[Any, Any]:
    """``own`` over ``base``: own keys first (the card's lines locate it), then the template's
    others; nested mappings merged, keys the template lacks refused below the top level."""
    out: dict[Any, Any] = {}
    for k, v in own.items():
        if prefix and k not in base:
            have = ", ".join(str(b) for b in base) or "nothing"
            raise where.error(f"{what} overrides {prefix}{k}, which the template does not have (it has: {have})", k)
        b = base.get(k)
        if isinstance(v, Mapping) and isinstance(b, Mapping):
            out[k] = _merge(v, b, what, where, f"{prefix}{k}.")
        else:
            out[k] = v
    for k, v in base.items():
        if k not in out:
            out[k] = v
    return out


def _expand_card(key: Any, card: dict[Any, Any], where: _Where) -> dict[Any, Any]:
    name = str(key)
    for k in ("files", "outputs"):
        if k not in card:
            raise where.error(f"model {name!r} has no {k!r} (nor has its template)", key)
    if ("inputs" in card) == ("tensors" in card):
        raise where.error(
            f"model {name!r} needs exactly one of 'inputs' and 'tensors' (its own or its template's)", key
        )
    out = dict(card)
    if "inputs" in out:
        out["inputs"] = _expand_inputs(name, out["inputs"], where)
    else:
        out["tensors"] = {t: _expand_inputs(name, v, where) for t, v in out["tensors"].items()}
    norm_spec = out.pop("normalisation", None)
    if norm_spec is not None:
        table = _normalisation(name, norm_spec, where)

        def normalised(inputs: list[Any]) -> list[Any]:
            done = []
            for i in inputs:
                if "mean" in i or "offset" in i:
                    done.append(i)
                    continue
                n = str(i["name"])
                if n not in table:
                    raise where.error(
                        f"model {name!r}: input {n!r} is not in the normalisation file {str(norm_spec['file'])!r}",
                        i["name"],
                    )
                done.append({**i, "mean": table[n][0], "std": table[n][1]})
            return done

        if "inputs" in out:
            out["inputs"] = normalised(out["inputs"])
        else:
            out["tensors"] = {t: normalised(v) for t, v in out["tensors"].items()}
    return out


def _expand_inputs(model: str, inputs: list[Any], where: _Where) -> list[Any]:
    out: list[Any] = []
    for entry in inputs:
        out += _expand_input(model, entry, where)
    return out


def _elementwise_slices(text: str) -> list[re.Match[str]]:
    """The slices ``[a:b].field`` of ``text`` that make it list-valued: those not inside a call
    of a function that reduces a list (``sum``, ``all``, ``HT``, ...): only operators,
    parentheses and element-wise functions (``abs``, ``sqrt``, ``if``, ...) around them."""
    out = []
    for m in _SLICE.finditer(text):
        stack: list[str] = []  # the function name before each open parenthesis ("" for none)
        for k, ch in enumerate(text[: m.start()]):
            if ch in "([":
                name = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", text[:k]) if ch == "(" else None
                stack.append(name.group(1) if name else "" if ch == "(" else "[")
            elif ch in ")]" and stack:
                stack.pop()
        if all(f in _ELEMENTWISE for f in stack):
            out.append(m)
    return out


def _substitute(text: str, found: list[re.Match[str]], k: int) -> tuple[str, tuple[tuple[int, int, int, int], ...]]:
    """``text`` with the slice of each of ``found`` replaced by ``[k]`` (the field kept), and the
    replaced spans: (start, end) of each ``[k]`` in the result with (start, end) of its slice."""
    out: list[str] = []
    spans = []
    pos = length = 0
    for m in found:
        end = m.end(2) + text[m.end(2) : m.end()].index("]") + 1
        length += m.start() - pos
        spans.append((length, length + len(f"[{k}]"), m.start(), end))
        out += [text[pos : m.start()], f"[{k}]"]
        length += len(f"[{k}]")
        pos = end
    return "".join(out) + text[pos:], tuple(spans)


class ListElement(Located):
    """The expression of one element of a list-valued model input (``jets[1].pt`` of
    ``jets[0:4].pt``), at the position of the text it comes from. Keeps that text (``source``),
    the element (``element``: the index ``k``; ``feature``: the name of the input it becomes), the
    input as written (``input``: its ``name``, or its ``names``) and the replaced slices, so that
    an error the core reports in it can quote the list form (:func:`element_error`)."""

    source: str = ""
    element: int = 0
    feature: str = ""
    input: str = ""
    spans: tuple[tuple[int, int, int, int], ...] = ()

    def source_offset(self, offset: int) -> int:
        """The offset in ``source`` of the character at ``offset`` of this text (a character
        of a ``[k]`` maps into its slice: the brackets to the brackets, the index to the bounds)."""
        shift = 0
        for start, end, src_start, src_end in self.spans:
            if offset < start:
                break
            if offset < end:
                return src_start if offset == start else src_end - 1 if offset == end - 1 else src_start + 1
            shift = src_end - end
        return offset + shift


def _expand_input(model: str, entry: dict[Any, Any], where: _Where) -> list[dict[Any, Any]]:
    expr = entry["expr"]
    found = _elementwise_slices(str(expr))
    slices = {(int(m.group(1)), int(m.group(2))) for m in found}
    label = f"model {model!r}, input {str(entry.get('name', expr))!r}"
    if not slices:
        for key in ("names", *_PER_ELEMENT):
            if isinstance(entry.get(key), list) or (key == "names" and key in entry):
                raise where.error(
                    f"{label}: {key!r} as a list needs a list-valued expression (a slice such as [0:4])",
                    _key(entry, key),
                )
        if "name" not in entry:
            raise where.error(f"{label}: give 'name'", expr)
        return [entry]
    if len(slices) > 1:
        shown = ", ".join(f"[{a}:{b}]" for a, b in sorted(slices))
        raise where.error(f"{label}: a list-valued input uses one slice, got {shown}", expr)
    ((lo, hi),) = slices
    if hi <= lo:
        raise where.error(f"{label}: the slice [{lo}:{hi}] is empty", expr)
    n = hi - lo
    if n > _MAX_ELEMENTS:
        raise where.error(f"{label}: the slice [{lo}:{hi}] has {n} elements, at most {_MAX_ELEMENTS}", expr)
    if "names" in entry:
        if "name" in entry:
            raise where.error(f"{label}: give 'name' or 'names', not both", _key(entry, "names"))
        names = list(entry["names"])
        if len(names) != n:
            raise where.error(f"{label}: {len(names)} names for the {n} elements of [{lo}:{hi}]", _key(entry, "names"))
    elif "name" in entry:
        base = entry["name"]
        names = [
            _like(str(base).replace("{i}", str(k)) if "{i}" in base else f"{base}{k}", base) for k in range(lo, hi)
        ]
    else:
        raise where.error(f"{label}: give 'name' (features <name>{lo}..<name>{hi - 1}) or 'names'", expr)
    per: dict[str, list[Any]] = {}
    for key in _PER_ELEMENT:
        if key in entry:
            v = entry[key]
            if isinstance(v, list):
                if len(v) != n:
                    raise where.error(
                        f"{label}: {key!r} has {len(v)} values for the {n} elements of [{lo}:{hi}]", _key(entry, key)
                    )
                per[key] = list(v)
            else:
                per[key] = [v] * n
    out = []
    for j, k in enumerate(range(lo, hi)):
        item: dict[Any, Any] = {}
        for key, v in entry.items():
            if key == "names":
                continue
            if key == "name":
                item[key] = names[j]
            elif key == "expr":
                text, spans = _substitute(str(expr), found, k)
                if isinstance(expr, Located):  # what its errors quote: the text as written (element_error)
                    element = ListElement(text, expr.line, expr.col)
                    element.file, element.source, element.element, element.spans = expr.file, str(expr), k, spans
                    element.input = repr(str(entry["name"])) if "name" in entry else f"[{', '.join(map(str, names))}]"
                    element.feature = str(names[j])
                    item[key] = element
                else:
                    item[key] = text
            elif key in per:
                item[key] = per[key][j]
            else:
                item[key] = v
        if "names" in entry:
            item = {"name": names[j], **item}
        out.append(item)
    return out


def _offset(text: str, line0: int, col0: int, line: int | None, col: int | None) -> int | None:
    """The offset in ``text`` (at ``line0:col0`` of its file) of ``line:col`` of the file, as the
    core counts them (columns after the text's first line: within the text's line); None outside."""
    if line is None or col is None:
        return None
    lines = text.split("\n")
    rel = line - line0
    if not 0 <= rel < len(lines):
        return None
    c = col - col0 if rel == 0 else col - 1
    if not 0 <= c <= len(lines[rel]):
        return None
    return sum(len(x) + 1 for x in lines[:rel]) + c


def _list_elements(doc: Mapping[Any, Any]) -> list[ListElement]:
    out = []
    for card in (doc.get("models") or {}).values():
        groups = [card["inputs"]] if "inputs" in card else list((card.get("tensors") or {}).values())
        out += [i["expr"] for inputs in groups for i in inputs if isinstance(i.get("expr"), ListElement)]
    return out


def element_error(err: ConfigError, doc: Mapping[Any, Any], path: str | Path) -> ConfigError | None:
    """A core error about the expression of an element of a list-valued model input of ``doc``
    (the expanded definition at ``path``) said about what is written there: the column in the
    list form, the expression line under the message (the core quotes the element's text) that
    text, and which element it is; None for an error anywhere else."""
    if err.file != str(path):
        return None
    message, echo = err.message, None
    parts = message.rsplit("\n", 2)  # the core's "MESSAGE\n    LINE\n    ^" (the caret under the column)
    if len(parts) == 3 and parts[1].startswith("    ") and parts[2].startswith("    ") and parts[2].strip() == "^":
        message, echo = parts[0], parts[1][4:]
    for x in _list_elements(doc):
        text = str(x)
        offset = _offset(text, x.line, x.col, err.line, err.column)
        if offset is None:
            continue
        line = text.count("\n", 0, offset)
        if echo is not None and text.split("\n")[line] != echo:
            continue  # another element (another index) of the input, or another input here
        at = x.source_offset(offset)
        src_line = x.source.count("\n", 0, at)
        start = x.source.rfind("\n", 0, at) + 1
        column = x.col + at - start if src_line == 0 else at - start + 1
        message += f" (in {x.feature!r}, element {x.element} of the list-valued input {x.input})"
        if echo is not None:
            message += "\n    " + x.source.split("\n")[src_line] + "\n    " + " " * (at - start) + "^"
        return ConfigError(message, file=err.file, line=x.line + src_line, column=column)
    return None


# ------------------------------------------------------------------------------------------------
# split regions
# ------------------------------------------------------------------------------------------------
def _fmt(x: float | int) -> str:
    """An edge as written in a name or cut: 1000, 0.5, inf."""
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def _edge(x: Any, where: _Where, at: Any) -> float | int:
    if isinstance(x, bool):
        raise where.error(f"bin edge {x!r} is not a number or 'inf'", at)
    if isinstance(x, (int, float)):
        if math.isnan(x):
            raise where.error("bin edge nan is not a number or 'inf'", at)
        return x
    if isinstance(x, str):
        t = x.strip().lower()
        if t in ("inf", "+inf", "infinity", ".inf", "+.inf"):
            return math.inf
        if t in ("-inf", "-infinity", "-.inf"):
            return -math.inf
    raise where.error(f"bin edge {x!r} is not a number or 'inf'", x if isinstance(x, Located) else at)


def _edges(raw: list[Any], label: str, where: _Where, at: Any, noun: str = "edges") -> list[float | int]:
    """The edges read (numbers, ±inf) and checked as the core checks them: at least two,
    increasing; errors start with ``label`` (the split dimension, the region)."""
    edges = [_edge(x, where, at) for x in raw]
    if len(edges) < 2:
        raise where.error(f"{label}: at least two {noun} are needed, got {len(edges)}", at)
    for a, b in itertools.pairwise(edges):
        if not b > a:
            raise where.error(f"{label}: {noun} must increase, got {_fmt(a)} then {_fmt(b)}", at)
    return edges


def _bins(region: Mapping[Any, Any], where: _Where) -> dict[Any, Any]:
    """A multi-bin region's ``bins`` with its edges read and checked here, where the YAML line is
    known (the core would name a path into the resolved JSON), and as many names as bins."""
    b = region["bins"]
    label = f"region {str(region['name'])!r}"
    edges = _edges(b["edges"], label, where, b, noun="bin edges")
    if "names" in b and len(b["names"]) != len(edges) - 1:
        raise where.error(f"{label}: {len(b['names'])} bin names for {len(edges) - 1} bins", b)
    return {**b, "edges": edges}


class _Dim:
    def __init__(self, spec: Mapping[Any, Any], index: int, where: _Where) -> None:
        self.spec = spec
        self.variable = spec["variable"]
        var = str(self.variable).strip()
        if "name" in spec:
            self.name = str(spec["name"])
        elif _IDENT.match(var):
            self.name = var
        else:
            raise where.error(
                f"split dimension {index + 1}: the variable {var!r} is not a plain name; give 'name' (the "
                "placeholder in the region name)",
                self.variable,
            )
        self.label = str(spec.get("label", var))
        self.text = var if _SIMPLE.match(var) else f"({var})"
        self.at = _key(spec, "edges")
        self.ragged = bool(spec["edges"]) and all(isinstance(e, list) for e in spec["edges"])
        if not self.ragged and any(isinstance(e, list) for e in spec["edges"]):
            raise where.error(
                f"split dimension {self.name!r}: edges are numbers, or (in 2-D) one list of edges per bin of "
                "the other dimension, not a mixture",
                self.at,
            )
        self.names = spec.get("names")
        if self.ragged:
            if self.names is not None:
                raise where.error(
                    f"split dimension {self.name!r}: 'names' needs one list of edges (these edges are per bin of "
                    "the other dimension)",
                    _key(spec, "names"),
                )
            self.edge_lists = [_edges(e, f"split dimension {self.name!r}", where, self.at) for e in spec["edges"]]
        else:
            self.edge_lists = [_edges(spec["edges"], f"split dimension {self.name!r}", where, self.at)]
            nbins = len(self.edge_lists[0]) - 1
            if self.names is not None and len(self.names) != nbins:
                raise where.error(
                    f"split dimension {self.name!r}: {len(self.names)} names for {nbins} bins", _key(spec, "names")
                )

    def bins(self, other_bin: int = 0) -> list[_Bin]:
        edges = self.edge_lists[other_bin if self.ragged else 0]
        out = []
        for k, (lo, hi) in enumerate(itertools.pairwise(edges)):
            label = str(self.names[k]) if self.names is not None else _fmt(lo)
            out.append((lo, hi, label))
        return out

    def cut(self, lo: float | int, hi: float | int) -> tuple[str, Any]:
        name = f"{self.label} in [{_fmt(lo)}, {_fmt(hi)})"
        parts = []
        if not math.isinf(lo):
            parts.append(f"{self.text} >= {_fmt(lo)}")
        if not math.isinf(hi):
            parts.append(f"{self.text} < {_fmt(hi)}")
        return name, _like(" and ".join(parts), self.variable)


def _pattern(text: Any, values: Mapping[str, str], what: str, where: _Where, required: bool) -> Any:
    used = set()

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise where.error(
                f"{what} {str(text)!r}: unknown placeholder {{{key}}} (the split dimensions: "
                f"{', '.join('{' + v + '}' for v in values)})",
                text,
            )
        used.add(key)
        return values[key]

    out = _PLACEHOLDER.sub(sub, str(text))
    if required:
        missing = [v for v in values if v not in used]
        if missing:
            raise where.error(
                f"{what} {str(text)!r} must name every split dimension (one region per cell); missing "
                f"{', '.join('{' + v + '}' for v in missing)}",
                text,
            )
    return _like(out, text)


def _split(region: dict[Any, Any], where: _Where) -> list[dict[Any, Any]]:
    dims = [_Dim(d, k, where) for k, d in enumerate(region["split"])]
    names = [d.name for d in dims]
    for n in names:
        if names.count(n) > 1:
            raise where.error(f"two split dimensions are named {n!r}; give 'name' to one", _key(region, "split"))
    n_cells = math.prod(max(len(e) - 1 for e in d.edge_lists) for d in dims)
    if n_cells > _MAX_CELLS:
        raise where.error(f"split into up to {n_cells} regions, at most {_MAX_CELLS}", _key(region, "split"))
    ragged = [k for k, d in enumerate(dims) if d.ragged]
    if ragged:
        if len(dims) != 2 or len(ragged) != 1:
            raise where.error(
                "edges given per bin of another dimension need exactly two dimensions, one with plain edges",
                dims[ragged[0]].at,
            )
        r = ragged[0]
        other = dims[1 - r]
        n_other = len(other.bins())
        if len(dims[r].edge_lists) != n_other:
            raise where.error(
                f"split dimension {dims[r].name!r}: {len(dims[r].edge_lists)} lists of edges for the {n_other} "
                f"bins of {other.name!r}",
                dims[r].at,
            )
        cells: list[tuple[_Bin, ...]] = []
        for j, ob in enumerate(other.bins()):
            for rb in dims[r].bins(j):
                cells.append((rb, ob) if r == 0 else (ob, rb))
        cells.sort(key=lambda c: tuple(b[0] for b in c))
    else:
        cells = list(itertools.product(*(d.bins() for d in dims)))
    base = {k: v for k, v in region.items() if k != "split"}
    out = []
    for cell in cells:
        values = {d.name: b[2] for d, b in zip(dims, cell, strict=True)}
        r2 = dict(base)
        r2["name"] = _pattern(region["name"], values, "the region name", where, required=True)
        for key in ("published", "description"):  # one published name per region: every dimension named
            if key in r2:
                r2[key] = _pattern(r2[key], values, key, where, required=key == "published")
        cuts = list(base.get("cuts", []))
        for d, (lo, hi, _) in zip(dims, cell, strict=True):
            label, expr = d.cut(lo, hi)
            cuts.append({label: expr})
        r2["cuts"] = cuts
        out.append(r2)
    return out
