"""web/common/pagination.py: page and size are read by core.parsing's rules."""
from __future__ import annotations

import pytest

from web.common.pagination import PageParamError, PageRequest


def test_pagination_reads_page_and_size_as_ascii_digits():
    assert PageRequest.from_args({"page": "2", "size": "50"}) == PageRequest(2, 50)
    for args, field in (({"page": "²"}, "page"), ({"size": "²"}, "size"), ({"size": "٣"}, "size")):
        with pytest.raises(PageParamError) as caught:
            PageRequest.from_args(args)
        assert caught.value.field == field
