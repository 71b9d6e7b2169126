"""Notebook integration in a real Jupyter kernel.

One kernel serves the whole module (starting one costs about a second); each
test writes its own modules (unique names) into the kernel's working
directory and starts from ``liveimport.reset()`` with a short grace period.
"""

from __future__ import annotations

import re
import time

import pytest
from kernel_helpers import GRACE, Kernel, write

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("kernel")
    with Kernel(cwd) as k:
        k.ok(f"import liveimport\nliveimport.auto_sync(grace={GRACE})")
        yield k


@pytest.fixture
def k(kernel, request):
    """The shared kernel, with LiveImport reset and default settings (short grace)."""
    # (A broken module a previous test left may show its error before the reset.)
    setup = kernel.run(
        f"""
        import importlib, liveimport
        liveimport.reset()
        liveimport.auto_sync(True, grace={GRACE}, report=True)
        liveimport.hidden_cell_magic(True)
        liveimport.patching(False)
        liveimport.auto_register(False)
        liveimport.auto_sync(hints=True, hint_limit=10)
        liveimport.include(*liveimport.exclude())
        importlib.invalidate_caches()
        """
    )
    assert setup.status == "ok", str(setup)
    kernel.pause()
    return kernel


def names(kernel: Kernel) -> list[str]:
    return kernel.value("[str(b) for b in liveimport.registrations(globals())]")


def report_lines(cell) -> list[str]:
    return [line for report in cell.reports for line in report.splitlines()]


# -- %%liveimport --------------------------------------------------------------


def test_magic_registers_and_next_cell_reloads(k):
    write(k.cwd / "mg_a.py", "X = 1\ndef f():\n    return X * 10\n")
    cell = k.ok("%%liveimport\nimport mg_a\nfrom mg_a import f\nprint(mg_a.X, f())")
    assert cell.stdout == "1 10\n"
    assert cell.reports == []  # registering reloads nothing

    write(k.cwd / "mg_a.py", "X = 2\ndef f():\n    return X * 100\n")
    k.pause()
    cell = k.ok("mg_a.X, f()")
    assert cell.result == "(2, 200)"
    assert len(cell.reports) == 1
    assert re.fullmatch(r"Reloaded mg_a modified .* ago", cell.reports[0]), str(cell)
    # the report is a Markdown console block (as the PyPI package shows it),
    # with labelled HTML and plain-text alternatives
    display = [o for o in cell.outputs if o["type"] == "display_data"][0]
    assert display["data"]["text/markdown"].startswith("```console\n")
    assert display["data"]["text/plain"] == "LiveImport: " + cell.reports[0]
    assert "LiveImport</span> Reloaded mg_a modified" in display["data"]["text/html"]
    # the report comes before the cell's own result
    kinds = [o["type"] for o in cell.outputs]
    assert kinds.index("display_data") < kinds.index("execute_result")

    # nothing changed: no report, no reload
    k.pause()
    cell = k.ok("mg_a.X")
    assert cell.reports == [] and cell.result == "2"


def test_dependency_chain_reloads_in_order(k):
    write(k.cwd / "ch_base.py", "RATE = 1\n")
    write(k.cwd / "ch_mid.py", "from ch_base import RATE\ndef scaled(x):\n    return x * RATE\n")
    write(
        k.cwd / "ch_top.py",
        "import ch_mid\ndef total(xs):\n    return sum(map(ch_mid.scaled, xs))\n",
    )
    k.ok("%%liveimport\nfrom ch_top import total")
    assert k.value("total([1, 2])") == 3

    write(k.cwd / "ch_base.py", "RATE = 10\n")
    k.pause()
    cell = k.ok("total([1, 2])")
    assert cell.result == "30"
    lines = report_lines(cell)
    assert len(lines) == 3, str(cell)
    assert lines[0].startswith("Reloaded ch_base modified")
    assert lines[1] == "Reloaded ch_mid because ch_base reloaded"
    assert lines[2] == "Reloaded ch_top because ch_mid reloaded"


def test_clear_option_and_comment_on_magic_line(k):
    write(k.cwd / "cl_a.py", "A = 1\n")
    write(k.cwd / "cl_b.py", "B = 1\n")
    k.ok("%%liveimport  # the first one\nimport cl_a")
    k.ok("%%liveimport --clear # now only cl_b\nimport cl_b")
    assert names(k) == ["import cl_b"]
    k.ok("%%liveimport -c\nfrom cl_a import A")
    assert names(k) == ["from cl_a import A"]

    # without -c registrations add up
    k.ok("%%liveimport #comment\nimport cl_b")
    assert names(k) == ["from cl_a import A", "import cl_b"]

    # only the cleared-in imports reload: cl_a is registered, cl_b too
    write(k.cwd / "cl_a.py", "A = 2\n")
    k.pause()
    cell = k.ok("A")
    assert cell.result == "2" and len(report_lines(cell)) == 1


def test_unknown_argument_is_usage_error_and_cell_does_not_run(k):
    write(k.cwd / "ua_a.py", "A = 1\n")
    cell = k.run("%%liveimport --frobnicate\nimport ua_a\nran_ua = True")
    assert cell.status == "error"
    assert cell.reply["ename"] == "UsageError"
    assert "--frobnicate" in cell.all_text()
    assert k.value("'ran_ua' in globals()") is False
    assert names(k) == []


def test_cell_with_line_magics_and_shell_escapes(k):
    write(k.cwd / "lm_a.py", "A = 1\n")
    write(k.cwd / "lm_b.py", "B = 1\n")
    cell = k.ok(
        """\
        %%liveimport
        %time t = 1
        import lm_a
        !echo shell-escape-ran
        files = !ls
        from lm_b import B
        %alias_magic lm_noop pwd
        """
    )
    assert "shell-escape-ran" in cell.stdout
    assert names(k) == ["import lm_a", "from lm_b import B"]

    write(k.cwd / "lm_b.py", "B = 2\n")
    k.pause()
    assert k.ok("B").result == "2"


def test_error_in_cell_shows_once_and_registers_nothing(k):
    write(k.cwd / "ce_a.py", "A = 1\n")
    cell = k.run("%%liveimport\nimport ce_a\n1 / 0\nafter_error = True")
    assert cell.status == "error"
    assert cell.reply["ename"] == "ZeroDivisionError"
    assert len(cell.errors) == 1, str(cell)
    assert names(k) == []
    assert k.value("'after_error' in globals()") is False


def test_cell_mixing_standard_library_and_own_modules(k):
    write(k.cwd / "sl_a.py", "A = 1\n")
    k.ok("%%liveimport\nimport sys, os, math\nfrom time import monotonic\nfrom sl_a import A")
    # Modules without Python source register too; they are simply never reloaded.
    assert names(k) == [
        "import sys",
        "import os",
        "import math",
        "from time import monotonic",
        "from sl_a import A",
    ]
    write(k.cwd / "sl_a.py", "A = 2\n")
    k.pause()
    cell = k.ok("A, math.pi > 3")
    assert cell.result == "(2, True)" and len(cell.reports) == 1


def test_cell_result_and_output_display_normally(k):
    write(k.cwd / "ro_a.py", "A = 41\n")
    cell = k.ok("%%liveimport\nimport ro_a\nprint('printed')\nro_a.A + 1")
    assert cell.stdout == "printed\n"
    assert cell.result == "42"


def test_registration_error_is_shown_clearly(k):
    write(k.cwd / "re_a.py", "A = 1\n")
    cell = k.run("%%liveimport\nimport re_a\ndel re_a")
    assert cell.status == "error"
    assert cell.reply["ename"] == "ValueError"
    text = cell.error_text()
    assert "not registered" in text
    assert "re_a" in text
    assert "Traceback" not in text  # a message, not LiveImport's internals
    assert len(cell.errors) == 1


def test_registration_of_a_module_with_a_syntax_error(k):
    write(k.cwd / "rs_a.py", "A = 1\n")
    k.ok("import rs_a")  # loaded while it was fine
    write(k.cwd / "rs_a.py", "A = (\n")
    cell = k.run("%%liveimport\nimport rs_a")
    assert cell.status == "error"
    assert len(cell.errors) == 1, str(cell)
    text = cell.error_text()
    assert "not registered" in text
    assert "SyntaxError" in text and "rs_a.py" in text
    assert names(k) == []


# -- hidden magic ---------------------------------------------------------------


def test_hidden_magic_both_spellings_and_switch(k):
    write(k.cwd / "hm_a.py", "A = 1\n")
    write(k.cwd / "hm_b.py", "B = 1\n")
    write(k.cwd / "hm_c.py", "C = 1\n")
    k.ok("#_%%liveimport\nimport hm_a")
    assert names(k) == ["import hm_a"]
    k.ok("# _%%liveimport -c  # comment too\nimport hm_b")
    assert names(k) == ["import hm_b"]

    k.ok("liveimport.hidden_cell_magic(False)")
    k.ok("#_%%liveimport -c\nimport hm_c")  # now just a comment
    assert names(k) == ["import hm_b"]
    write(k.cwd / "hm_c.py", "C = 2\n")
    k.pause()
    cell = k.ok("hm_c.C")
    assert cell.result == "1" and cell.reports == []

    k.ok("liveimport.hidden_cell_magic(True)")
    k.ok("#_%%liveimport\nimport hm_c")
    write(k.cwd / "hm_c.py", "C = 3\n")
    k.pause()
    cell = k.ok("hm_c.C")
    assert cell.result == "3" and len(cell.reports) == 1


def test_hidden_magic_needs_exact_marker(k):
    write(k.cwd / "hx_a.py", "A = 1\n")
    k.ok("#_%%liveimportx\nimport hx_a")
    k.ok("x = 1  #_%%liveimport\nimport hx_a")
    assert names(k) == []


# -- grace period ---------------------------------------------------------------


def test_cells_back_to_back_do_not_reload_until_a_pause(k):
    write(k.cwd / "gr_a.py", "V = 1\n")
    # a "Run All": cells start right after each other; one of them edits the file
    cells = k.batch(
        "%%liveimport\nfrom gr_a import V",
        k.edit_cell("gr_a.py", "V = 1", "V = 2"),
        "V",
        "V",
        "V",
    )
    assert all(c.status == "ok" for c in cells), "\n".join(map(str, cells))
    assert [c.result for c in cells[2:]] == ["1"] * 3
    assert all(c.reports == [] for c in cells)
    k.pause()
    cell = k.ok("V")
    assert cell.result == "2" and len(cell.reports) == 1


def test_grace_is_measured_from_the_end_of_the_previous_cell(k):
    write(k.cwd / "ge_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom ge_a import V")
    k.pause()
    # a long cell: the file changes while it runs; the next cell comes at once
    long_cell = f"import time\ntime.sleep({GRACE * 2})\n" + k.edit_cell("ge_a.py", "V = 1", "V = 2")
    cells = k.batch(long_cell, "V")
    assert cells[0].status == "ok", str(cells[0])
    assert cells[1].result == "1"
    k.pause()
    assert k.ok("V").result == "2"


def test_default_grace_is_one_second(kernel, tmp_path):
    kernel.ok("liveimport.reset(); liveimport.auto_sync(grace=1.0)")
    try:
        write(kernel.cwd / "gd_a.py", "V = 1\n")
        kernel.ok("import importlib; importlib.invalidate_caches()")
        kernel.ok("%%liveimport\nfrom gd_a import V")
        write(kernel.cwd / "gd_a.py", "V = 2\n")
        time.sleep(0.5)
        assert kernel.ok("V").result == "1"
        time.sleep(1.1)
        assert kernel.ok("V").result == "2"
    finally:
        kernel.ok(f"liveimport.auto_sync(grace={GRACE})")


# -- reports and settings ---------------------------------------------------------


def test_report_false_reloads_silently(k):
    write(k.cwd / "rf_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom rf_a import V\nliveimport.auto_sync(report=False)")
    write(k.cwd / "rf_a.py", "V = 2\n")
    k.pause()
    cell = k.ok("V")
    assert cell.result == "2"
    assert cell.markdown == [] and cell.stdout == ""


def test_auto_sync_disabled_then_enabled(k):
    write(k.cwd / "ad_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom ad_a import V\nliveimport.auto_sync(False)")
    write(k.cwd / "ad_a.py", "V = 2\n")
    k.pause()
    cell = k.ok("V")
    assert cell.result == "1" and cell.reports == []
    k.ok("liveimport.auto_sync(True)")
    k.pause()
    cell = k.ok("V")
    assert cell.result == "2" and len(cell.reports) == 1


def test_explicit_sync_in_a_cell_still_works(k):
    write(k.cwd / "es_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom es_a import V\nliveimport.auto_sync(False)")
    write(k.cwd / "es_a.py", "V = 2\n")
    cell = k.ok(
        "events = []\nliveimport.sync(observer=events.append)\nV, [e.module for e in events]"
    )
    assert cell.result == "(2, ['es_a'])"


# -- errors during auto-sync -----------------------------------------------------------


def test_syntax_error_in_module_is_shown_and_cell_still_runs(k):
    write(k.cwd / "se_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom se_a import V")
    write(k.cwd / "se_a.py", "V = 1\ndef broken(:\n    pass\n")
    k.pause()
    cell = k.run("print('cell ran with V =', V)")
    assert cell.status == "ok", str(cell)
    assert cell.stdout == "cell ran with V = 1\n"
    assert len(cell.errors) == 1, str(cell)
    err = cell.errors[0]
    assert err["ename"] == "SyntaxError"
    text = cell.error_text()
    assert "se_a.py" in text and ":2" in text  # file and line
    assert "def broken(:" in text  # the offending line
    assert "rolled back" in text
    everything = cell.all_text()
    assert "Error in callback" not in everything
    # Only the module's own error: no LiveImport frames, no engine error, no chain.
    for noise in ("_api.py", "_reload.py", "liveimport/", "AnalysisError", "During handling"):
        assert noise not in everything, noise

    # still broken: retried before the next cell, and said in one line
    k.pause()
    cell = k.run("V")
    assert cell.status == "ok" and not cell.errors, str(cell)
    assert cell.stderr.count("\n") == 1 and "se_a.py line 2 still has an error" in cell.stderr
    assert "previous version of se_a" in cell.stderr
    # changed but still broken (another error): the whole error again
    write(k.cwd / "se_a.py", "V = 2\nclass (:\n")
    k.pause()
    assert len(k.run("V").errors) == 1
    # fixed: reloads, reported
    write(k.cwd / "se_a.py", "V = 3\n")
    k.pause()
    cell = k.ok("V")
    assert cell.result == "3" and len(cell.reports) == 1


def test_exception_at_import_rolls_back_everything(k):
    write(k.cwd / "rb_base.py", "RATE = 1\n")
    write(k.cwd / "rb_top.py", "import rb_base\nPRICE = 10 * rb_base.RATE\n")
    k.ok("%%liveimport\nimport rb_base\nfrom rb_top import PRICE")
    write(k.cwd / "rb_base.py", "RATE = 2\n")
    write(
        k.cwd / "rb_top.py",
        "import rb_base\n\ndef compute():\n    return 1 / 0\n\nPRICE = compute()\n",
    )
    k.pause()
    cell = k.run("print(rb_base.RATE, PRICE)")
    assert cell.status == "ok", str(cell)
    # rb_base reloaded first, then rb_top failed: rb_base is back to its old version
    assert cell.stdout == "1 10\n"
    assert cell.reports == []  # a rolled-back sync reports no reloads
    assert len(cell.errors) == 1
    assert cell.errors[0]["ename"] == "ZeroDivisionError"
    text = cell.error_text()
    assert "rb_top.py" in text and "return 1 / 0" in text and "PRICE = compute()" in text
    assert "rolled back" in text
    assert "importlib" not in text and "Error in callback" not in text

    write(k.cwd / "rb_top.py", "import rb_base\nPRICE = 100 * rb_base.RATE\n")
    k.pause()
    cell = k.ok("rb_base.RATE, PRICE")
    assert cell.result == "(2, 200)"
    lines = report_lines(cell)
    assert [line.split()[1] for line in lines] == ["rb_base", "rb_top"]


def test_name_removed_from_the_source_is_a_reported_leftover(k):
    write(k.cwd / "vn_a.py", "def helper():\n    return 1\nOTHER = 1\n")
    k.ok("%%liveimport\nfrom vn_a import helper, OTHER")
    write(k.cwd / "vn_a.py", "def renamed():\n    return 2\nOTHER = 2\n")
    k.pause()
    cell = k.ok("print(helper(), OTHER)")
    # As after importlib.reload: helper is left over (and still works); the
    # report says so.
    assert cell.stdout == "1 2\n"
    assert not cell.errors
    assert cell.notes == [
        "Warning: helper is no longer defined in the source of vn_a: the name keeps the "
        "value left over from the previous version of vn_a",
    ]
    assert cell.reports[0].startswith("Reloaded vn_a modified")
    assert len(cell.reports[0].splitlines()) == 1
    write(k.cwd / "vn_a.py", "def helper():\n    return 3\nOTHER = 3\n")
    k.pause()
    assert k.ok("helper(), OTHER").result == "(3, 3)"


def test_keyboard_interrupt_during_sync_stops_the_cell(k):
    write(k.cwd / "ki_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom ki_a import V")
    write(k.cwd / "ki_a.py", "V = 2\nraise KeyboardInterrupt\n")
    k.pause()
    cell = k.run("ki_ran = True")
    assert cell.status == "error", str(cell)
    assert cell.reply["ename"] == "KeyboardInterrupt"
    assert "Error in callback" not in cell.all_text()
    assert k.value("'ki_ran' in globals()") is False
    assert k.value("V") == 1
    # the cell after runs normally (and retries the sync)
    write(k.cwd / "ki_a.py", "V = 3\n")
    k.pause()
    cell = k.ok("ki_ran = True\nV")
    assert cell.result == "3"


def test_real_interrupt_during_a_slow_reload(k):
    write(k.cwd / "ri_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom ri_a import V")
    write(k.cwd / "ri_a.py", "import time\ntime.sleep(30)\nV = 2\n")
    k.pause()
    msg_id = k.send("ri_ran = True")
    time.sleep(1.0)  # the kernel is now inside the reload, sleeping
    k.km.interrupt_kernel()
    cell = k.collect(msg_id, timeout=20)
    assert cell.status == "error", str(cell)
    assert cell.reply["ename"] == "KeyboardInterrupt"
    assert k.value("'ri_ran' in globals()") is False
    assert k.value("V") == 1
    write(k.cwd / "ri_a.py", "V = 3\n")
    k.pause()
    assert k.ok("V").result == "3"


# -- bootstrap cells ----------------------------------------------------------------


def test_bootstrap_cell_report_is_shown_with_the_next_user_cell(k):
    write(k.cwd / "bs_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom bs_a import V")
    write(k.cwd / "bs_a.py", "V = 2\n")
    k.pause()
    hidden, cell = k.batch(
        ("_vscode_setup = 1", {"store_history": False, "cell_id": None}),
        "V",  # right after: inside the grace period
    )
    assert hidden.reports == [] and hidden.outputs == []
    assert cell.result == "2"
    assert len(cell.reports) == 1 and "bs_a" in cell.reports[0]
    # shown once only
    k.pause()
    assert k.ok("V").reports == []


def test_bootstrap_cell_report_is_dropped_after_the_grace_period(k):
    write(k.cwd / "bd_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom bd_a import V")
    write(k.cwd / "bd_a.py", "V = 2\n")
    k.pause()
    hidden = k.ok("_vscode_setup = 2", store_history=False, cell_id=None)
    assert hidden.outputs == []
    k.pause()
    cell = k.ok("V")
    assert cell.result == "2"  # the reload happened in the bootstrap cell
    assert cell.reports == []  # its report was not shown at a surprising time


def test_bootstrap_cell_error_is_held_too(k):
    write(k.cwd / "be_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom be_a import V")
    write(k.cwd / "be_a.py", "V = (\n")
    k.pause()
    hidden, cell = k.batch(("_setup = 3", {"store_history": False, "cell_id": None}), "V")
    assert hidden.outputs == [] and hidden.status == "ok"
    assert cell.result == "1"
    assert [e["ename"] for e in cell.errors] == ["SyntaxError"]


def test_cell_with_id_but_no_history_is_a_user_cell(k):
    write(k.cwd / "ci_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom ci_a import V")
    write(k.cwd / "ci_a.py", "V = 2\n")
    k.pause()
    cell = k.ok("V", store_history=False, cell_id="abc-123")
    assert cell.result == "2" and len(cell.reports) == 1


# -- installation ---------------------------------------------------------------------


def our_callbacks(kernel: Kernel) -> int:
    return kernel.value(
        "sum('liveimport' in type(getattr(cb, '__self__', None)).__module__ "
        "for cb in get_ipython().events.callbacks['pre_run_cell'])"
    )


def test_installation_is_never_stacked(k):
    write(k.cwd / "st_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom st_a import V")
    k.ok("import liveimport")
    k.ok("import importlib; importlib.reload(liveimport)")
    k.ok("%load_ext liveimport")
    k.ok("%load_ext liveimport")
    k.ok("%reload_ext liveimport")
    k.ok("importlib.reload(liveimport._ipython); liveimport._ipython._install_if_in_ipython()")
    assert our_callbacks(k) == 1
    assert (
        k.value(
            "sum(getattr(getattr(t, '__self__', None), '_liveimport_marker', False) "
            "for t in get_ipython().input_transformers_cleanup)"
        )
        == 1
    )
    # settings survived the reloads (grace is still short)
    write(k.cwd / "st_a.py", "V = 2\n")
    k.pause()
    cell = k.ok("V")
    assert cell.result == "2"
    assert len(cell.reports) == 1 and len(report_lines(cell)) == 1, str(cell)


def test_unload_and_load_extension(k):
    write(k.cwd / "ul_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom ul_a import V")
    k.ok("%unload_ext liveimport")
    assert our_callbacks(k) == 0
    write(k.cwd / "ul_a.py", "V = 2\n")
    k.pause()
    cell = k.ok("V")
    assert cell.result == "1" and cell.reports == []
    cell = k.run("%%liveimport\nimport ul_a")
    assert cell.status == "error"  # the magic is gone
    cell = k.ok("#_%%liveimport\nul_unhidden = 1")  # just a comment now
    assert k.value("get_ipython().find_line_magic('liveimport') is None") is True

    k.ok("%load_ext liveimport")
    assert our_callbacks(k) == 1
    k.pause()
    cell = k.ok("V")
    assert cell.result == "2" and len(cell.reports) == 1


# -- %liveimport ---------------------------------------------------------------------


def test_status_magic_shows_registrations_modules_and_pending(k):
    write(k.cwd / "sm_base.py", "R = 1\n")
    write(k.cwd / "sm_top.py", "import sm_base\ndef f():\n    return sm_base.R\n")
    k.ok("%%liveimport\nfrom sm_top import f")
    cell = k.ok("%liveimport")
    md = cell.markdown[0]
    plain = [o for o in cell.outputs if o["type"] == "display_data"][0]["data"]["text/plain"]
    for text in (md, plain):
        assert "from sm_top import f" in text
        assert "sm_top" in text and "sm_base" in text
        assert "registered import" in text and "imported by sm_top" in text
        assert "sm_base.py" in text
    assert "|" in md and "reload pending" not in md

    # edit, then look right away (inside the grace period: nothing synced yet)
    _, cell = k.batch(k.edit_cell("sm_base.py", "R = 1", "R = 2"), "%liveimport")
    md = cell.markdown[0]
    assert "reload pending" in md
    pending_line = [line for line in md.splitlines() if line.startswith("**Pending")][0]
    # the modified module, then its dependent: the order the next sync reloads in
    assert pending_line.index("sm_base") < pending_line.index("sm_top")
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| `")}
    assert "reload pending (modified)" in rows["`sm_base`"]
    assert "reload pending (after sm_base)" in rows["`sm_top`"]
    # the next cell after the grace period does exactly that
    k.pause()
    assert report_lines(k.ok("f()"))[1] == "Reloaded sm_top because sm_base reloaded"


def test_force_reload_magic(k):
    write(k.cwd / "fr_base.py", "R = 1\n")
    write(k.cwd / "fr_top.py", "import fr_base\nLOADS = []\nLOADS.append(1)\n")
    k.ok("%%liveimport\nimport fr_top\nimport fr_base")
    cell = k.ok("%liveimport --reload fr_base")
    lines = report_lines(cell)
    assert len(lines) == 2, str(cell)
    assert lines[0].startswith("Reloaded fr_base")
    assert lines[1] == "Reloaded fr_top because fr_base reloaded"

    cell = k.run("%liveimport --reload no_such_module")
    assert cell.status == "error" and cell.reply["ename"] == "UsageError"
    cell = k.run("%liveimport --bogus")
    assert cell.status == "error" and cell.reply["ename"] == "UsageError"
    cell = k.run("%liveimport --reload")
    assert cell.status == "error" and cell.reply["ename"] == "UsageError"
    cell = k.ok("%liveimport --help")
    assert "--reload" in cell.stdout


def test_force_reload_error(k):
    write(k.cwd / "fe_a.py", "V = 1\n")
    k.ok("%%liveimport\nfrom fe_a import V")
    write(k.cwd / "fe_a.py", "V = 2\nraise RuntimeError('boom in fe_a')\n")
    cell = k.run("%liveimport --reload fe_a")
    assert cell.status == "error"
    assert cell.reply["ename"] == "ModuleError"
    text = cell.error_text()
    assert "boom in fe_a" in text and "fe_a.py" in text and "rolled back" in text
    assert k.value("V") == 1


def test_patching_keeps_objects_working_after_a_reload(k):
    source = (
        "import enum\n\nclass Shape:\n    def __init__(self, side):\n        self.side = side\n"
        "    def area(self):\n        return self.side ** {p}\n\n"
        "class Kind(enum.Enum):\n    SQUARE = 1\n\ndef describe(s):\n    return 'v{p}'\n"
    )
    write(k.cwd / "pa_shapes.py", source.replace("{p}", "2"))
    cell = k.ok("%liveimport --patch on")
    assert cell.stdout == "LiveImport: patching is on.\n"
    k.ok("%%liveimport\nfrom pa_shapes import Shape, Kind, describe")
    k.ok("s = Shape(3)\nkind = Kind.SQUARE\nhandlers = {'d': describe}\nbound = s.area")
    write(k.cwd / "pa_shapes.py", source.replace("{p}", "3"))
    k.pause()
    cell = k.ok("(s.area(), bound(), isinstance(s, Shape), kind is Kind.SQUARE, handlers['d'](s))")
    assert cell.result == "(27, 27, True, True, 'v3')"
    assert report_lines(cell)[0].startswith("Reloaded pa_shapes modified")
    assert "Patching is on" in k.ok("%liveimport").all_text()


def test_stale_objects_are_listed_in_the_report(k):
    write(k.cwd / "so_pts.py", "class Point:\n    __slots__ = ('x',)\n")
    k.ok("%%liveimport\nfrom so_pts import Point")
    k.ok("p = Point()\npoints = [Point()]")
    write(k.cwd / "so_pts.py", "class Point:\n    __slots__ = ('x', 'y')\n")
    k.pause()
    cell = k.ok("1")
    assert [note for note in cell.notes if note.startswith("Old objects")] == [
        "Old objects: p (Point from so_pts, replaced: patching is off), "
        "points[0] (Point from so_pts, replaced: patching is off)"
    ]
    k.ok("%liveimport --patch on\nq = Point()")
    write(k.cwd / "so_pts.py", "class Point:\n    __slots__ = ('x', 'y', 'z')\n")
    k.pause()
    cell = k.ok("1")
    # Only instances of the class this sync replaced (p is older still).
    assert cell.notes[-1] == "Old objects: q (Point from so_pts, replaced: its __slots__ changed)"


def test_rerun_hints_list_the_cells_that_used_what_changed(k):
    write(k.cwd / "hi_shop.py", "def total(x):\n    return x\n\nclass Cart:\n    size = 1\n")
    write(k.cwd / "hi_report.py", "def summary():\n    return 'r1'\n")
    k.ok("%%liveimport\nfrom hi_shop import total, Cart\nimport hi_report as report")
    first = k.ok("a = total(2)").reply["execution_count"]
    second = k.ok("b = (Cart.size, report.summary())").reply["execution_count"]
    k.ok("total = lambda x: 0\nc = total(5)")  # assigned before used: not listed
    k.ok("d = 1")
    write(k.cwd / "hi_shop.py", "def total(x):\n    return 10 * x\n\nclass Cart:\n    size = 2\n")
    write(k.cwd / "hi_report.py", "def summary():\n    return 'r2'\n")
    k.pause()
    cell = k.ok("0")
    assert len(report_lines(cell)) == 2
    hint = cell.notes[-1]
    assert hint == (
        f"Cells that used changed names: In [{first}] (total), "
        f"In [{second}] (Cart, report.summary) — %rerun {first} {second}"
    )
    assert k.value("[str(h) for h in liveimport.last_sync().rerun]") == [
        f"In [{first}] (total)",
        f"In [{second}] (Cart, report.summary)",
    ]
    k.ok(f"%rerun {first} {second}")
    assert k.value("(a, b)") == (20, (2, "r2"))
    # Only the latest execution of a cell counts; hints can be turned off.
    k.ok("%liveimport --hints off")
    write(k.cwd / "hi_shop.py", "def total(x):\n    return 100 * x\n\nclass Cart:\n    size = 3\n")
    k.pause()
    assert not k.ok("0").notes


def test_zero_config_mode_registers_workspace_imports_only(k):
    write(k.cwd / "zc_mod.py", "V = 1\n")
    assert k.ok("%liveimport --auto on").stdout == "LiveImport: zero-config mode is on.\n"
    k.ok("import json\nfrom zc_mod import V\nprint(V)")
    assert names(k) == ["from zc_mod import V"]  # json is not in the workspace
    write(k.cwd / "zc_mod.py", "V = 2\n")
    k.pause()
    assert k.ok("V").result == "2"
    # reset() and %unload_ext/%load_ext keep the setting
    k.ok("liveimport.reset()\n%unload_ext liveimport\n%load_ext liveimport")
    write(k.cwd / "zc_two.py", "W = 1\n")
    k.ok("from zc_two import W")
    assert names(k) == ["from zc_two import W"]
    k.ok("%liveimport --auto off")
    write(k.cwd / "zc_three.py", "X = 1\n")
    k.ok("from zc_three import X")
    assert names(k) == ["from zc_two import W"]


def test_excluded_modules_in_a_notebook(k):
    write(k.cwd / "ex_base.py", "V = 1\n")
    write(k.cwd / "ex_data.py", "import ex_base\nROWS = [ex_base.V]\n")
    k.ok("%%liveimport\nfrom ex_data import ROWS\nimport ex_base")
    cell = k.ok("%liveimport --exclude ex_data")
    assert cell.stdout == "LiveImport: excluded modules: ex_data.\n"
    assert "excluded" in k.ok("%liveimport").all_text()
    write(k.cwd / "ex_base.py", "V = 2\n")
    k.pause()
    cell = k.ok("ROWS, ex_base.V")
    assert cell.result == "([1], 2)"  # ex_base reloaded; ex_data not, nor through it
    assert report_lines(cell) == [report_lines(cell)[0]]
    write(k.cwd / "ex_data.py", "import ex_base\nROWS = [ex_base.V, 'edited']\n")
    k.pause()
    assert k.ok("ROWS").result == "[1]"  # edited while excluded: not reloaded
    k.ok("%liveimport --include ex_data")
    k.pause()
    assert k.ok("ROWS").result == "[2, 'edited']"
