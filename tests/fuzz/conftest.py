"""Each fuzz module keeps a `TALLY` of outcomes; this prints it under the module's `FUZZ_CLASS` (cases tried,
loaded, refused, failed), as the issue asks, once the module's tests are done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True)
def fuzz_report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    tally, kind = getattr(request.module, "TALLY", None), getattr(request.module, "FUZZ_CLASS", None)
    if tally is not None and kind:
        print(tally.summary(kind))
