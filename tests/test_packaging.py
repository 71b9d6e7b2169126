"""The distributions: what the wheel and the sdist contain, and that they work.

* The wheel ``make`` built (``$LIVEIMPORT_WHEEL_DIR``, else one built here with
  maturin) is one abi3 wheel for CPython >= 3.10 holding the package and the
  engine, and on Linux ``auditwheel show`` agrees with its manylinux tag.
* ``maturin sdist`` holds every tracked file the build needs (both crates,
  ``Cargo.lock``, the Python sources, README, LICENSE) and nothing it should
  not (build output, venvs, caches); ``pip install <sdist>`` builds it in a
  fresh venv, and the result imports and passes ``tests/smoke.py``.

Slow (the sdist build compiles the engine and the bindings: about a minute)
and needs maturin, auditwheel and the network access pip needs for the build
backend: run by ``make test`` in ``.venv`` only. The sdist build uses the
checkout's Cargo target directory, so the third-party crates that ``make``
compiled are reused; the sdist's files are stamped with the current time, so
cargo compiles the two crates from the sdist's own sources rather than
reusing the checkout's build of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

import liveimport

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CARGO_TARGET = ROOT / "target"
BIN = Path(sysconfig.get_path("scripts"))

# Files the build needs besides those tracked under crates/ and python/.
REQUIRED_TOP = {"Cargo.toml", "Cargo.lock", "pyproject.toml", "README.md", "LICENSE"}
# Path parts that must never be shipped.
FORBIDDEN_PARTS = {
    "target",
    ".venv",
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".bench-venvs",
    ".ipynb_checkpoints",
    "node_modules",
}
FORBIDDEN_SUFFIXES = (".so", ".pyd", ".dylib", ".dll", ".whl", ".pyc", ".tar.gz")
SDIST_MAX_BYTES = 1 << 20  # it is about 75 KB; a megabyte means something leaked in


def maturin() -> str:
    found = shutil.which("maturin", path=str(BIN)) or shutil.which("maturin")
    if found is None:
        pytest.fail("maturin is not installed (make installs it into .venv)")
    return found


def tracked_files(*folders: str) -> set[str]:
    """Files git tracks under the folders, relative to the root (None without git)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", *folders],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot list the tracked files")
    return {name for name in out.decode().split("\0") if name}


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CARGO_TARGET_DIR"):
        env.pop(key, None)
    return env


# ---------------------------------------------------------------------------
# The wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("LIVEIMPORT_WHEEL_DIR")
    if folder:
        wheels = sorted((ROOT / folder).glob("*.whl"))
        assert len(wheels) == 1, f"expected one wheel in {folder}: {wheels}"
        return wheels[0]
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [maturin(), "build", "--release", "--quiet", "--out", str(out)],
        cwd=ROOT,
        check=True,
        env=clean_env(),
    )
    (built,) = out.glob("*.whl")
    return built


def test_wheel_is_one_abi3_wheel_with_the_package(wheel: Path):
    name, version, python, abi, platform = wheel.name[: -len(".whl")].split("-")
    assert (name, version) == ("liveimport", liveimport.__version__)
    assert (python, abi) == ("cp310", "abi3"), "one wheel for every CPython >= 3.10"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    package = {p[len("python/") :] for p in tracked_files("python/liveimport")}
    assert package <= names, f"missing from the wheel: {sorted(package - names)}"
    engines = [n for n in names if re.fullmatch(r"liveimport/_engine\.(abi3\.so|pyd)", n)]
    assert len(engines) == 1, sorted(names)
    assert not [n for n in names if n.startswith(("tests/", "crates/", "bench/"))]


SYMBOL_ORDER = ROOT / "crates" / "python" / "symbol-order.txt"


def linked_with_lld(extension: Path) -> bool:
    """Whether LLD linked the extension (it says so in ``.comment``)."""
    done = subprocess.run(
        ["readelf", "-p", ".comment", str(extension)], capture_output=True, text=True
    )
    return done.returncode == 0 and "LLD" in done.stdout


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and shutil.which("nm") and shutil.which("readelf")),
    reason="reads an ELF extension with binutils",
)
def test_extension_places_the_functions_a_kernel_runs_first():
    """crates/python/build.rs has LLD place the functions listed in
    symbol-order.txt first, in order: a kernel then maps fewer pages of the
    extension. The list names functions as this build names them; a list
    that no longer matches (``make symbol-order`` remakes it) fails here."""
    import liveimport._engine as engine

    extension = Path(engine.__file__)
    if not linked_with_lld(extension):
        pytest.skip("linked without LLD: build.rs passes no ordering")
    listed = [
        line.strip()
        for line in SYMBOL_ORDER.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Functions with a size: the C runtime's few (frame_dummy, ...) have
    # none, and keep their own order within their one section.
    address: dict[str, int] = {}
    listing = subprocess.run(
        ["nm", "-S", str(extension)], capture_output=True, text=True, check=True
    ).stdout
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            address.setdefault(parts[3], int(parts[0], 16))
    found = [address[name] for name in listed if name in address]
    assert len(found) >= 0.9 * len(listed), (
        f"{len(listed) - len(found)} of the {len(listed)} functions listed are not in the build: "
        "run `make symbol-order`"
    )
    assert found == sorted(found), "the listed functions are not placed in the listed order"
    later = [a for a in address.values() if a > found[-1]]
    assert len(later) > len(address) // 2, "the listed functions come first, the others after them"


FRESH_IMAGE_PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import liveimport._engine as engine
assert engine.__file__.startswith(sys.argv[1]), engine.__file__
maps, current = [], None
with open("/proc/self/smaps") as f:
    for line in f:
        fields = line.split()
        if "-" in fields[0] and ":" not in fields[0]:
            current = None
            if len(fields) >= 6 and fields[5] == engine.__file__:
                current = {"perms": fields[1], "offset": int(fields[2], 16), "rss_kib": 0}
                maps.append(current)
        elif current is not None and fields[0] == "Rss:":
            current["rss_kib"] = int(fields[1])
print(json.dumps(maps))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_import_keeps_few_pages_of_a_freshly_installed_extension(tmp_path: Path):
    """pip writes a wheel's files in 1 MiB blocks, so a just-installed
    extension sits in the page cache in folios of up to 1 MiB, and Linux
    (6.18 on) maps a folio whole at a fault when it lies inside one mapping:
    the loader's first read would keep the extension's first MiB resident.
    crates/python/src/image.rs splits each read-only mapping in two and drops
    what the loader left there."""
    import liveimport._engine as engine

    extension = Path(engine.__file__)
    copy = tmp_path / "liveimport"
    shutil.copytree(
        extension.parent, copy, ignore=shutil.ignore_patterns("__pycache__", extension.name)
    )
    with extension.open("rb") as src, (copy / extension.name).open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)  # as pip does
    done = subprocess.run(
        [sys.executable, "-c", FRESH_IMAGE_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    maps = json.loads(done.stdout)
    text_at = min(m["offset"] for m in maps if "x" in m["perms"])
    # The read-only segment before the code: symbol tables, relocations, constants.
    first = [m for m in maps if m["offset"] < text_at and m["perms"].startswith("r--")]
    code = [m for m in maps if "x" in m["perms"]]
    assert len(first) >= 2 and len(code) >= 2, f"the read-only mappings are not split: {maps}"
    resident = sum(m["rss_kib"] for m in first)
    assert resident <= 512, f"{resident} KiB of the read-only segment resident after import: {maps}"


_POLICY_ALIASES = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def glibc_of(tag: str) -> tuple[int, int] | None:
    """The glibc version a manylinux platform tag promises, e.g. (2, 17)."""
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_\w+", tag)
    if match:
        return int(match.group(1)), int(match.group(2))
    match = re.fullmatch(r"(manylinux\d+)_\w+", tag)
    return _POLICY_ALIASES.get(match.group(1)) if match else None


def test_glibc_of_tags():
    assert glibc_of("manylinux_2_34_x86_64") == (2, 34)
    assert glibc_of("manylinux2014_aarch64") == (2, 17)
    assert glibc_of("linux_x86_64") is None
    assert glibc_of("musllinux_1_2_x86_64") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="auditwheel is for Linux wheels")
def test_linux_wheel_passes_auditwheel(wheel: Path):
    platforms = wheel.name[: -len(".whl")].split("-")[-1].split(".")
    promised = [glibc_of(tag) for tag in platforms]
    assert all(promised), f"{wheel.name}: every platform tag must be a manylinux tag"
    result = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)],
        capture_output=True,
        text=True,
    )
    text = " ".join(result.stdout.split())  # auditwheel wraps its lines
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r'is consistent with the following platform tag: "([^"]+)"', text)
    assert match, text
    honoured = glibc_of(match.group(1))
    assert honoured is not None, f"auditwheel: not manylinux at all: {text}"
    # Every tag the wheel claims must need at least the glibc that auditwheel found it needs.
    assert all(glibc >= honoured for glibc in promised), (
        f"{wheel.name} claims {platforms}, but auditwheel says it needs {match.group(1)}"
    )
    assert "additional external libraries" not in text, text


# ---------------------------------------------------------------------------
# The sdist


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run(
        [maturin(), "sdist", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env=clean_env(),
    )
    (built,) = out.glob("*.tar.gz")
    return built


def test_sdist_holds_what_the_build_needs_and_nothing_else(sdist: Path):
    prefix = f"liveimport-{liveimport.__version__}/"
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
    names = {m.name[len(prefix) :] for m in members if m.name.startswith(prefix)}
    assert len(names) == len(members), "every file lies under liveimport-<version>/"

    needed = REQUIRED_TOP | tracked_files("crates", "python")
    assert needed <= names, f"missing from the sdist: {sorted(needed - names)}"
    assert "PKG-INFO" in names
    leaked = sorted(
        name
        for name in names
        if FORBIDDEN_PARTS & set(name.split("/"))
        or name.split("/")[0].startswith(".venv")
        or name.endswith(FORBIDDEN_SUFFIXES)
    )
    assert not leaked, f"must not be in the sdist: {leaked}"
    assert sdist.stat().st_size < SDIST_MAX_BYTES, f"{sdist.stat().st_size} bytes"


def restamped(sdist: Path, folder: Path) -> Path:
    """A copy of the sdist whose every file carries the current time."""
    copy = folder / sdist.name
    now = time.time()
    with tarfile.open(sdist) as source, tarfile.open(copy, "w:gz") as target:
        for member in source.getmembers():
            member.mtime = now
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
    return copy


@pytest.mark.timeout(1200)
def test_sdist_builds_and_imports_in_a_fresh_venv(sdist: Path, tmp_path: Path):
    """``pip install <sdist>`` into a new venv: a build from the sdist's files alone."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    fresh = restamped(sdist, tmp_path)

    env = clean_env()
    env["CARGO_TARGET_DIR"] = str(CARGO_TARGET)
    build = subprocess.run(
        [str(python), "-m", "pip", "install", "-v", "--disable-pip-version-check", str(fresh)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    log = build.stdout + build.stderr
    assert build.returncode == 0, log[-10000:]
    # cargo compiled both crates, and from the unpacked sdist, not from this checkout.
    for crate in ("liveimport-engine", "liveimport-python"):
        compiled = re.search(rf"Compiling {crate} v\S+ \(([^)]+)\)", log)
        assert compiled, f"{crate} was not compiled from the sdist:\n{log[-5000:]}"
        assert not Path(compiled.group(1)).resolve().is_relative_to(ROOT), compiled.group(0)

    smoke = subprocess.run(
        [str(python), str(ROOT / "tests" / "smoke.py")],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "smoke test passed" in smoke.stdout
    # It ran the build in the venv, not this checkout nor the suite's own install.
    location = re.search(r"liveimport \S+ from (.+)", smoke.stdout).group(1).strip()
    assert Path(location).resolve().is_relative_to(venv.resolve()), location
