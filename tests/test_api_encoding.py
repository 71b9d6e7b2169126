"""Source decoding agrees with CPython: a module edited to each of these byte
sequences reloads exactly when CPython can compile it, and then has the value
CPython gives it; otherwise the sync fails with phase "analysis" and changes
nothing."""

from __future__ import annotations

import sys

import pytest

import liveimport

LATIN = "caf\u00e9".encode("latin-1")
UTF8 = "caf\u00e9".encode()
BOM = b"\xef\xbb\xbf"

VARIANTS = {
    "plain-utf8": b"X = '" + UTF8 + b"'\n",
    "bom": BOM + b"X = '" + UTF8 + b"'\n",
    "bom+utf-8-cookie": BOM + b"# -*- coding: utf-8 -*-\nX = '" + UTF8 + b"'\n",
    "bom+utf8-cookie": BOM + b"# coding: utf8\nX = '" + UTF8 + b"'\n",
    "bom+latin1-cookie": BOM + b"# coding: latin-1\nX = '" + UTF8 + b"'\n",
    "latin1-cookie": b"# -*- coding: latin-1 -*-\nX = '" + LATIN + b"'\n",
    "iso-8859-1-cookie": b"# coding=iso-8859-1\nX = '" + LATIN + b"'\n",
    "cp1252-cookie": b"# coding: cp1252\nX = '" + LATIN + b"'\n",
    "vim-cookie": b"# vim: set fileencoding=latin-1 :\nX = '" + LATIN + b"'\n",
    "cookie-line-2-after-shebang": b"#!/usr/bin/env python\n# coding: latin-1\nX = '"
    + LATIN
    + b"'\n",
    "cookie-line-2-after-blank": b"\n# coding: latin-1\nX = '" + LATIN + b"'\n",
    "cookie-line-3-ignored": b"\n\n# coding: latin-1\nX = '" + LATIN + b"'\n",
    "cookie-after-code-ignored": b"X = 1\n# coding: latin-1\nX = '" + LATIN + b"'\n",
    "cookie-trailing-code-ignored": b"Y = 1  # coding: latin-1\nX = '" + LATIN + b"'\n",
    "latin1-bytes-no-cookie": b"X = '" + LATIN + b"'\n",
    "unknown-codec": b"# coding: no-such-codec\nX = 'a'\n",
    "utf8-in-comment-only": b"# caf\xc3\xa9\nX = 'a'\n",
    "latin1-in-comment-no-cookie": b"# caf\xe9\nX = 'a'\n",
    "form-feed-before-cookie": b"\x0c# coding: latin-1\nX = '" + LATIN + b"'\n",
    "crlf-line-endings": b"# coding: latin-1\r\nX = '" + LATIN + b"'\r\n",
    "nul-byte": b"X = 'a'\x00\n",
    "latin1-in-comment-line-5": b"X = 'a'\n\n\n\n# caf\xe9\n",
    "latin1-in-trailing-comment": b"X = 'a'  # caf\xe9\n",
    "latin1-in-docstring": b'"""caf\xe9"""\nX = 1\n',
    "bom+latin1-in-comment": BOM + b"# caf\xe9\nX = 'a'\n",
    "utf8-cookie+latin1-in-comment": b"# coding: utf-8\n# caf\xe9\nX = 'a'\n",
}


def cpython(data: bytes) -> tuple[bool, object]:
    try:
        code = compile(data, "<variant>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False, None
    ns: dict = {}
    exec(code, ns)
    return True, ns["X"]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_decoding_matches_cpython(project, name):
    data = VARIANTS[name]
    project.write("enc.py", "X = 'start'\n")
    project.register("from enc import X")
    ok, value = cpython(data)

    project.write_bytes("enc.py", data)
    if ok:
        events = project.sync()
        assert [(e.module, e.reason) for e in events] == [("enc", "modified")]
        assert project.ns["X"] == value
        assert sys.modules["enc"].X == value
    else:
        with pytest.raises(liveimport.ModuleError) as info:
            project.sync()
        assert (info.value.module, info.value.phase) == ("enc", "analysis")
        assert project.ns["X"] == "start"
        assert sys.modules["enc"].X == "start"


def test_module_with_a_latin1_comment_can_be_registered(project):
    project.write_bytes("legacy.py", b"# Author: Jos\xe9\nX = 1\n")
    project.run("from legacy import X")  # CPython imports it
    liveimport.register(project.ns, "from legacy import X")
    project.write_bytes("legacy.py", b"# Author: Jos\xe9\nX = 2\n")
    assert [e.module for e in project.sync()] == ["legacy"]
    assert project.ns["X"] == 2
