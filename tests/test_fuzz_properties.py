"""Property-based fuzzing (issue 13, item 13): hypothesis strategies build structured inputs per
parser (tests/fuzz/properties.py), each example runs in a forked child through the fuzz targets
(tests/fuzz/harness.py), and the property is: ok or a typed error, never a crash, a hang, an
untyped exception or a known-invalid input silently accepted.

Bounded for the default suite (derandomized, no example database; about 10 s of CPU, more wall
time on a loaded machine). The long run: ``scripts/fuzz.sh 0 --hypothesis 500`` (counted in the campaign table), or
``pytest tests/test_fuzz_properties.py --hypothesis-profile fuzz-long``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz import properties
from fuzz.cases import Case

#: examples per parser in the default suite (slha: each example initialises Pythia, ~1 s)
EXAMPLES = {"slha": 2, "card": 3, "tmva": 10}
DEFAULT = 15

#: the long profile (registered in conftest.py): 2000 examples per parser, random seed, shrinking


def _bounded(parser: str) -> settings:
    return settings(max_examples=EXAMPLES.get(parser, DEFAULT), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))  # fmt: skip


def _make(parser: str):
    @_bounded(parser)
    @given(properties.STRATEGIES[parser])
    def prop(case: Case) -> None:
        properties.check(case)

    return prop


@pytest.mark.parametrize("parser", sorted(properties.STRATEGIES))
def test_ok_or_typed_error(parser, request):
    prop = _make(parser)
    if request.config.getoption("hypothesis_profile", None) == "fuzz-long":
        prop = settings(settings.get_profile("fuzz-long"))(prop)
    prop()
