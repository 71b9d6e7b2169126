"""The IPython integration in a real, in-process ``InteractiveShell``.

This is what terminal IPython runs: cells go through ``shell.run_cell``,
displays and tracebacks are printed as plain text.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import textwrap
import time

import pytest
from IPython.core.interactiveshell import InteractiveShell

import liveimport
import liveimport._ipython as integration


@pytest.fixture
def shell(project):
    """A fresh InteractiveShell with LiveImport installed; grace 0 (every cell syncs)."""
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance()
    liveimport.load_ipython_extension(sh)
    liveimport.auto_sync(True, grace=0.0, report=True)
    liveimport.hidden_cell_magic(True)
    sh.project = project
    try:
        yield sh
    finally:
        liveimport.unload_ipython_extension(sh)
        liveimport.auto_sync(True, grace=1.0, report=True)
        liveimport.hidden_cell_magic(True)
        InteractiveShell.clear_instance()


def plain(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def run(sh, code, **kwargs):
    return sh.run_cell(
        textwrap.dedent(code), store_history=kwargs.pop("store_history", True), **kwargs
    )


def ours(sh, event="pre_run_cell"):
    return [cb for cb in sh.events.callbacks[event] if integration._is_ours(cb)]


def test_magic_registers_and_reload_is_reported_as_text(shell, capsys):
    p = shell.project
    p.write("tm_a.py", "X = 1\n")
    result = run(shell, "%%liveimport\nfrom tm_a import X\nprint('X is', X)")
    assert result.success
    assert capsys.readouterr().out == "X is 1\n"
    assert [str(b) for b in liveimport.registrations(shell.user_ns)] == ["from tm_a import X"]

    p.write("tm_a.py", "X = 2\n")
    result = run(shell, "print('X is', X)")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("LiveImport: Reloaded tm_a modified"), out
    assert "```" not in out  # the terminal gets the plain-text rendering
    assert lines[1] == "X is 2"


def test_installation_is_idempotent(shell):
    importlib.reload(liveimport)  # runs _install_if_in_ipython() again
    liveimport.load_ipython_extension(shell)
    shell.run_line_magic("load_ext", "liveimport")
    shell.run_line_magic("reload_ext", "liveimport")
    importlib.reload(integration)
    integration._install_if_in_ipython()
    assert len(ours(shell, "pre_run_cell")) == 1
    assert len(ours(shell, "post_run_cell")) == 1
    assert len([t for t in shell.input_transformers_cleanup if integration._is_ours(t)]) == 1
    assert "liveimport" in shell.extension_manager.loaded


def test_import_installs_into_the_running_shell(shell):
    liveimport.unload_ipython_extension(shell)
    assert ours(shell) == []
    importlib.reload(liveimport)
    assert len(ours(shell)) == 1
    assert shell.find_cell_magic("liveimport") is not None


def test_unload_removes_everything(shell, capsys):
    p = shell.project
    p.write("un_a.py", "X = 1\n")
    run(shell, "%%liveimport\nfrom un_a import X")
    shell.extension_manager.loaded.add("liveimport")
    shell.run_line_magic("unload_ext", "liveimport")
    assert ours(shell, "pre_run_cell") == [] and ours(shell, "post_run_cell") == []
    assert not any(integration._is_ours(t) for t in shell.input_transformers_cleanup)
    assert not any(integration._is_ours(t) for t in shell.ast_transformers)
    assert shell.find_cell_magic("liveimport") is None
    assert shell.find_line_magic("liveimport") is None
    assert not hasattr(shell, integration._SHELL_ATTR)
    # hooks gone: edits are not picked up
    p.write("un_a.py", "X = 2\n")
    capsys.readouterr()
    run(shell, "print(X)")
    assert capsys.readouterr().out == "1\n"
    # the hidden magic is a plain comment again
    assert "run_cell_magic" not in shell.transform_cell("#_%%liveimport\nimport un_a\n")


def test_hidden_magic_transformer(shell):
    expected = shell.transform_cell("%%liveimport -c # note\nimport os\n")
    assert "run_cell_magic('liveimport'" in expected
    assert shell.transform_cell("#_%%liveimport -c # note\nimport os\n") == expected
    assert shell.transform_cell("# _%%liveimport -c # note\nimport os\n") == expected
    assert shell.transform_cell("#\t_%%liveimport -c # note\nimport os\n") == expected
    assert shell.transform_cell("\n#_%%liveimport -c # note\nimport os\n") == expected
    for plain in ("#_%%liveimports\nimport os\n", "#%%liveimport\nimport os\n", "x = 1\n"):
        assert "run_cell_magic" not in shell.transform_cell(plain)
    liveimport.hidden_cell_magic(False)
    assert "run_cell_magic" not in shell.transform_cell("#_%%liveimport\nimport os\n")
    liveimport.hidden_cell_magic(True)
    assert shell.transform_cell("#_%%liveimport -c # note\nimport os\n") == expected


def test_error_in_magic_cell_fails_the_cell_once(shell, capsys):
    shell.project.write("ef_a.py", "X = 1\n")
    result = run(shell, "%%liveimport\nimport ef_a\n1 / 0\nafter = 1")
    assert not result.success
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    out = capsys.readouterr().out
    assert out.count("ZeroDivisionError") == 2  # the traceback's header line and its last line
    assert liveimport.registrations(shell.user_ns) == []
    assert "after" not in shell.user_ns
    # called from code rather than from a cell, the magic raises the cell's error
    with pytest.raises(ZeroDivisionError):
        shell.run_cell_magic("liveimport", "", "import ef_a\n1 / 0\n")
    assert liveimport.registrations(shell.user_ns) == []


def test_syntax_error_in_cell_body(shell, capsys):
    result = run(shell, "%%liveimport\nimport os\ndef broken(:\n")
    assert not result.success
    assert isinstance(result.error_before_exec or result.error_in_exec, SyntaxError)
    assert liveimport.registrations(shell.user_ns) == []


def test_usage_errors(shell, capsys):
    from IPython.core.error import UsageError

    result = run(shell, "%%liveimport -x\nimport os")
    assert isinstance(result.error_in_exec, UsageError)
    assert "ran" not in shell.user_ns

    with pytest.raises(UsageError):
        shell.run_cell_magic("liveimport", "--clear extra", "import os\n")
    with pytest.raises(UsageError):
        shell.run_line_magic("liveimport", "--nope")
    with pytest.raises(UsageError):
        shell.run_line_magic("liveimport", "--reload")
    with pytest.raises(UsageError):
        shell.run_line_magic("liveimport", "--reload not_tracked_anywhere")


def test_auto_sync_error_is_shown_and_the_cell_runs(shell, capsys):
    p = shell.project
    p.write("ae_a.py", "X = 1\n")
    run(shell, "%%liveimport\nfrom ae_a import X")
    p.write("ae_a.py", "X = 2\nraise ValueError('bad config in ae_a')\n")
    capsys.readouterr()
    result = run(shell, "print('still ran, X =', X)")
    assert result.success
    out = plain(capsys.readouterr().out)
    assert "rolled back" in out
    assert "ValueError: bad config in ae_a" in out
    assert "ae_a.py" in out
    assert "Error in callback" not in out
    assert out.rstrip().endswith("still ran, X = 1")


def test_keyboard_interrupt_during_sync_stops_the_cell(shell, capsys):
    p = shell.project
    p.write("kb_a.py", "X = 1\n")
    run(shell, "%%liveimport\nfrom kb_a import X")
    p.write("kb_a.py", "X = 2\nraise KeyboardInterrupt\n")
    result = run(shell, "ran = True")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert "ran" not in shell.user_ns
    assert shell.user_ns["X"] == 1
    out = capsys.readouterr().out
    assert "KeyboardInterrupt" in out and "did not run" in out
    # the next cell runs normally, and no transformer is left behind
    p.write("kb_a.py", "X = 3\n")
    result = run(shell, "ran = True")
    assert result.success and shell.user_ns["ran"] is True and shell.user_ns["X"] == 3
    assert not any(integration._is_ours(t) for t in shell.ast_transformers)


def test_bootstrap_cell_in_terminal_shell(shell, capsys):
    p = shell.project
    liveimport.auto_sync(grace=0.3)
    p.write("bt_a.py", "X = 1\n")
    run(shell, "%%liveimport\nfrom bt_a import X")
    p.write("bt_a.py", "X = 2\n")
    time.sleep(0.35)
    capsys.readouterr()
    run(shell, "_setup = 1", store_history=False)  # no cell id: bootstrap
    assert capsys.readouterr().out == ""
    run(shell, "print(X)")
    out = capsys.readouterr().out
    assert out.startswith("LiveImport: Reloaded bt_a modified") and out.endswith("\n2\n")


def test_status_and_force_reload(shell, capsys):
    p = shell.project
    p.write("sf_base.py", "R = 1\n")
    p.write("sf_top.py", "import sf_base\nR2 = sf_base.R * 2\n")
    run(shell, "%%liveimport\nfrom sf_top import R2")
    capsys.readouterr()
    shell.run_line_magic("liveimport", "")
    out = capsys.readouterr().out
    assert "from sf_top import R2" in out
    assert "sf_top" in out and "registered import" in out
    assert "sf_base" in out and "imported by sf_top" in out
    assert "Pending reloads: none" in out

    shell.run_line_magic("liveimport", "--reload sf_base  # comment")
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("LiveImport: Reloaded sf_base")
    assert out.splitlines()[1] == "LiveImport: Reloaded sf_top because sf_base reloaded"

    shell.run_line_magic("liveimport", "--help")
    assert "--reload" in capsys.readouterr().out


def test_grace_validation():
    with pytest.raises(ValueError):
        liveimport.auto_sync(grace=-1)
    with pytest.raises(ValueError):
        liveimport.auto_sync(grace=float("nan"))


def test_outside_ipython_settings_are_kept_and_applied_later(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        import liveimport
        assert "IPython" not in sys.modules, "importing liveimport must not import IPython"
        liveimport.auto_sync(grace=5, report=False)
        liveimport.hidden_cell_magic(False)
        liveimport.auto_sync()  # no-op
        from IPython.core.interactiveshell import InteractiveShell
        sh = InteractiveShell.instance()
        assert sh.find_cell_magic("liveimport") is None
        sh.run_line_magic("load_ext", "liveimport")
        state = sh._liveimport_integration
        assert state.settings.grace == 5 and state.settings.report is False
        assert "run_cell_magic" not in sh.transform_cell("#_%%liveimport\\nimport os\\n")
        assert sh.find_cell_magic("liveimport") is not None
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
