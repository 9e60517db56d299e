"""pyhf workspaces of an analysis' signal regions and a JSON patch adding recast's signal.

The background-only workspace is built from the published numbers recast's own statistics use
(``signal_regions.csv``: observed events n, background b ± Δb per SR) in the same statistical
model: each SR bin is a Poisson count with the background's uncertainty as a ``shapesys``
modifier — a per-bin γ factor with a Poisson auxiliary constraint of τ = (b/Δb)² — which is
exactly pyhf's ``simplemodels.uncorrelated_background`` and what :func:`recast_ml.statistics.cls`
solves in closed form. The patch is a list of RFC 6902 operations (what ``pyhf cls --patch`` and
pyhf's patchsets apply) adding a sample ``signal`` with the recast yields and a ``normfactor``
``mu_SIG`` (the POI of the measurement, as in ATLAS' HistFitter likelihoods) to every SR channel.
The signal carries no uncertainty (recast's CLs uses the nominal yield; its MC error enters
r_cons instead).

Channel naming: where the experiment's full likelihood is mapped in the analysis folder
(``pyhf_conf.json``: likelihood file, channel name → SR, ``name[i]`` for bin i of a multi-bin
channel, the format CheckMATE / MadAnalysis 5 use), one workspace per published likelihood is
written with its channel names (e.g. ATLAS-SUSY-2018-22 ``MB-SSd_bkgonly.json`` → channels
``SR_2_1000_10_cuts`` …): its bins are disjoint and are fitted together, as the experiment does.
Control regions of those likelihoods have no published numbers and are left out, so the patch
addresses the channels of recast's workspace by index (``/channels/k``, as JSON patches must) and
does not apply to the experiment's own background-only file unchanged; the channel names, the POI
and the signal sample's form are those a patch of that file has. SRs not mapped
to a likelihood go into one workspace named after the analysis, a channel per SR named as the
published SR; such SRs may overlap, so that workspace must be pruned to one channel (or a set of
disjoint ones) before a fit: ``pyhf prune --channel …`` or :meth:`pyhf.Workspace.prune`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._core import ConfigError

log = logging.getLogger(__name__)

POI = "mu_SIG"
MEASUREMENT = "NormalMeasurement"
SIGNAL = "signal"
BACKGROUND = "background"
SCHEMA_VERSION = "1.0.0"
#: the background uncertainty modifier of a channel (``shapesys``: one γ per bin, Poisson constrained)
MODIFIER_PREFIX = "uncorr_bkguncrt_"

_BIN = re.compile(r"^(?P<channel>.+)\[(?P<bin>\d+)\]$")


@dataclass(frozen=True)
class LikelihoodMap:
    """One published likelihood of ``pyhf_conf.json``: its name, file, and per channel the SR of
    each bin (published SR names)."""

    name: str
    bkgonly: str
    channels: dict[str, dict[int, str]]


def read_likelihood_map(path: str | Path) -> list[LikelihoodMap]:
    """``pyhf_conf.json`` (``{"analysis": [{"name", "bkgonly", "patchset", "histosize", "SR_dict"}]}``,
    ``SR_dict``: channel (or ``channel[bin]``) → SR name) as a list of :class:`LikelihoodMap`."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        out = []
        for entry in doc["analysis"]:
            channels: dict[str, dict[int, str]] = {}
            for key, region in entry["SR_dict"].items():
                m = _BIN.match(key)
                channel, k = (m["channel"], int(m["bin"])) if m else (key, 0)
                channels.setdefault(channel, {})[k] = str(region)
            out.append(LikelihoodMap(str(entry["name"]), str(entry["bkgonly"]), channels))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(
            f"{path}: expected {{'analysis': [{{'name', 'bkgonly', 'SR_dict': {{channel: SR}}}}]}} ({e!r})"
        ) from e
    return out


@dataclass
class Workspace:
    """One background-only workspace and its signal patch; ``channels``: channel name → the
    statistics records (``results.json`` ``statistics.regions`` entries) of its bins, in order."""

    name: str
    channels: dict[str, list[Mapping[str, Any]]]
    likelihood: str | None = None
    left_out: list[str] = field(default_factory=list)

    def bkgonly(self) -> dict[str, Any]:
        """The background-only workspace (pyhf JSON schema 1.0.0)."""
        channels, observations = [], []
        for name, bins in self.channels.items():
            background = {
                "name": BACKGROUND,
                "data": [float(r["b"]) for r in bins],
                "modifiers": [
                    {"name": MODIFIER_PREFIX + name, "type": "shapesys", "data": [float(r["b_err"]) for r in bins]}
                ],
            }
            channels.append({"name": name, "samples": [background]})
            observations.append({"name": name, "data": [float(r["n_obs"]) for r in bins]})
        return {
            "channels": channels,
            "observations": observations,
            "measurements": [{"name": MEASUREMENT, "config": {"poi": POI, "parameters": []}}],
            "version": SCHEMA_VERSION,
        }

    def patch(self) -> list[dict[str, Any]]:
        """RFC 6902 operations adding the signal sample (normfactor ``mu_SIG``) to every channel of
        :meth:`bkgonly` (channel ``k`` is ``/channels/k``; the sample is appended)."""
        return [
            {
                "op": "add",
                "path": f"/channels/{k}/samples/-",
                "value": {
                    "name": SIGNAL,
                    "data": [float(r["signal"]) for r in bins],
                    "modifiers": [{"name": POI, "type": "normfactor", "data": None}],
                },
            }
            for k, bins in enumerate(self.channels.values())
        ]

    def regions(self) -> dict[str, list[str]]:
        """Channel → the SRs (recast region names) of its bins."""
        return {name: [str(r["region"]) for r in bins] for name, bins in self.channels.items()}


def workspaces(analysis_id: str, regions: Sequence[Mapping[str, Any]], directory: str | Path) -> list[Workspace]:
    """The workspaces of one analysis from its statistics records (``results.json``
    ``statistics.regions``: region, published_name, signal, n_obs, b, b_err), following the
    experiment's likelihoods where ``directory/pyhf_conf.json`` maps them (see the module doc)."""
    by_published = {str(r["published_name"]): r for r in regions}
    used: set[str] = set()
    out: list[Workspace] = []
    conf = Path(directory) / "pyhf_conf.json"
    for lk in read_likelihood_map(conf) if conf.is_file() else []:
        ws = Workspace(f"{analysis_id}_{lk.name}", {}, likelihood=lk.bkgonly)
        for channel, bins in lk.channels.items():
            names = [bins.get(k) for k in range(max(bins) + 1)]
            if all(n in by_published for n in names):
                ws.channels[channel] = [by_published[str(n)] for n in names]
                used.update(str(n) for n in names)
            else:
                missing = [k for k, n in enumerate(names) if n not in by_published]
                why = "no published numbers or no yield" + (f" for bins {missing}" if len(names) > 1 else "")
                ws.left_out.append(f"{channel} ({why})")
        if ws.channels:
            out.append(ws)
        else:
            log.info("%s: no channel of the likelihood %s has published numbers", analysis_id, lk.bkgonly)
    rest: dict[str, list[Mapping[str, Any]]] = {}
    for r in regions:
        if str(r["published_name"]) not in used:
            # two regions with one published name (not in the analyses here): the second keeps its own
            rest[str(r["published_name"]) if str(r["published_name"]) not in rest else str(r["region"])] = [r]
    if rest:
        out.append(Workspace(analysis_id, rest))
    return out


def files(ws: Workspace) -> tuple[str, str]:
    """The file names of a workspace's background-only JSON and patch."""
    return f"{ws.name}_bkgonly.json", f"{ws.name}_patch.json"


def write(ws: Workspace, folder: Path) -> dict[str, Any]:
    """Writes the two JSON files into ``folder``; returns their description (for ``results.json``)."""
    bkg_name, patch_name = files(ws)
    (folder / bkg_name).write_text(json.dumps(ws.bkgonly(), indent=1) + "\n")
    (folder / patch_name).write_text(json.dumps(ws.patch(), indent=1) + "\n")
    desc: dict[str, Any] = {
        "bkgonly": bkg_name,
        "patch": patch_name,
        "poi": POI,
        "channels": ws.regions(),
        "model": "per bin: Poisson(n | mu_SIG s + gamma b) x Poisson(tau | gamma tau), tau = (b/db)^2 "
        "(shapesys; pyhf uncorrelated_background), as recast's CLs",
    }
    if ws.likelihood is not None:
        desc["follows_likelihood"] = ws.likelihood
        desc["note"] = (
            "channel names of the published likelihood; its bins are disjoint and fitted together; "
            "its control regions and background composition are not published here (the patch addresses "
            "this workspace's channels by index and does not apply to the experiment's file unchanged)"
        )
        if ws.left_out:
            desc["channels_left_out"] = ws.left_out
    else:
        desc["note"] = (
            "one channel per SR; the SRs may overlap: prune to one channel (pyhf prune) before a fit, "
            "as recast's per-SR CLs"
        )
    return desc


__all__ = ["POI", "LikelihoodMap", "Workspace", "files", "read_likelihood_map", "workspaces", "write"]
