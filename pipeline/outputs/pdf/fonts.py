"""CJK fonts for the PDFs: the system face, and small subsets of it made with fontTools.

The cost of a PDF is the font, not the layout. Handed the system's Noto CJK collection, WeasyPrint
subsets a 19 MB face for every document (6–12 s without libharfbuzz-subset). Instead each renderer
keeps small subsets of the SC face ("GJJ CJK", see :class:`FontCache`) that hold the characters
its documents have needed so far plus a base set; a document that brings new characters rebuilds
a subset first. The real "Noto Sans CJK SC" stays next in ``font-family``, so a character no
subset has still renders, never as tofu. The big GB 2312 subset a diverse run grows into (≈5 s to
make) is kept on disk by :class:`FontFileCache` (the installation's ``var/cache/fonts``), so only
the first run of an installation makes it.

Nothing here imports WeasyPrint: :mod:`pipeline.outputs.pdf.render` hands it the stylesheet.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools import subset as ft_subset
from fontTools.ttLib import TTCollection, TTFont

from pipeline.errors import ConfigError

CJK_FAMILY = "Noto Sans CJK SC"
SUBSET_FAMILY = "GJJ CJK"
EXTRA_FAMILY = "GJJ CJK Extra"
KNOWN_FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
)


@dataclass(frozen=True)
class FontFace:
    """One face of a font file; ``index`` is its number in a collection (0 for a plain file)."""

    path: Path
    index: int


def _family_names(font: TTFont) -> set[str]:
    name = font["name"]
    return {value for value in (name.getDebugName(16), name.getDebugName(1)) if value}


def _face_index(path: Path, family: str) -> int | None:
    """Pick the face by its name table: a collection's order differs between builds."""
    try:
        if path.suffix.lower() in (".ttc", ".otc"):
            with TTCollection(path, lazy=True) as collection:
                for index, font in enumerate(collection.fonts):
                    if family in _family_names(font):
                        return index
            return None
        with TTFont(path, lazy=True) as font:
            return 0 if family in _family_names(font) else None
    except (OSError, ValueError, KeyError):
        return None


def _fontconfig_file(family: str) -> Path | None:
    try:
        found = subprocess.run(
            ["fc-match", "--format=%{file}", f"{family}:style=Regular"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(found.stdout.strip()) if found.returncode == 0 and found.stdout.strip() else None


def find_cjk_face(family: str = CJK_FAMILY) -> FontFace:
    """Locate the system's Noto Sans CJK SC face (fontconfig first, then the usual paths)."""
    candidates = [_fontconfig_file(family), *KNOWN_FONT_FILES]
    for path in dict.fromkeys(candidate for candidate in candidates if candidate):
        if path.is_file() and (index := _face_index(path, family)) is not None:
            return FontFace(path, index)
    raise ConfigError(f"找不到中文字体“{family}”，无法生成 PDF（Debian/Ubuntu：apt-get install fonts-noto-cjk）")


@lru_cache(maxsize=1)
def gb2312_hanzi() -> frozenset[str]:
    """The 6,763 hanzi of GB 2312 (levels 1 and 2): nearly every character of names and addresses."""
    chars = set()
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return frozenset(chars)


#: Bump when the way subsets are made changes, so files cached by an older version are not used.
SUBSET_RECIPE = "gjj-subset-1"


class FontFileCache:
    """Big subset files kept on disk between processes, so a new process never pays for them again.

    Making the GB 2312 subset takes about 5 s; every nightly run, watcher restart and worker
    would pay it again. A file is keyed by the face file (path, size, mtime, face index), the
    family name, the exact character set and :data:`SUBSET_RECIPE`, so a font upgrade or another
    set of characters never picks up a stale file. Only subsets of at least ``min_chars``
    characters are kept (small ones are cheap to make) and at most ``keep`` files, newest first.
    Files are written to a temporary name and renamed into place, so concurrent workers are safe.
    """

    def __init__(self, folder: Path, *, min_chars: int = 2000, keep: int = 8):
        self.folder = folder
        self.min_chars = min_chars
        self.keep = keep

    @classmethod
    def default(cls, folder: Path | None = None) -> FontFileCache | None:
        """The cache in ``$GJJ_FONT_CACHE`` if set, else in ``folder``; None for no cache.

        The output writer passes the installation's ``var/cache/fonts``, so every run and worker
        of one home shares it. ``GJJ_FONT_CACHE=off`` disables it; a folder that cannot be made
        private to this user disables it too (the renderer then builds subsets as before).
        """
        setting = os.environ.get("GJJ_FONT_CACHE", "")
        if setting.lower() in ("off", "0", "no", "false"):
            return None
        if setting:
            folder = Path(setting)
        if folder is None:
            return None
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            info = folder.stat()
        except OSError:
            return None
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            return None  # someone else's folder: never load fonts planted there
        return cls(folder)

    def key(self, face: FontFace, family: str, chars: Iterable[str]) -> str:
        info = face.path.stat()
        digest = hashlib.sha256()
        for part in (SUBSET_RECIPE, str(face.path.resolve()), str(info.st_size), str(info.st_mtime_ns), str(face.index), family):
            digest.update(part.encode("utf-8") + b"\0")
        digest.update("".join(sorted(chars)).encode("utf-8", "surrogatepass"))
        return digest.hexdigest()[:32]

    def _file(self, key: str) -> Path:
        return self.folder / f"{key}.otf"

    def has(self, key: str) -> bool:
        return self._file(key).is_file()

    def load(self, key: str, target: Path) -> bool:
        """Copy the cached file for ``key`` to ``target``; False when there is none."""
        source = self._file(key)
        try:
            shutil.copyfile(source, target)
            os.utime(source)  # recently used files are the ones kept
        except OSError:
            target.unlink(missing_ok=True)
            return False
        return True

    def store(self, key: str, source: Path) -> None:
        """Keep a copy of ``source``; a cache that cannot be written is simply not used."""
        target = self._file(key)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
            files = sorted(self.folder.glob("*.otf"), key=lambda path: path.stat().st_mtime, reverse=True)
            for stale in files[self.keep :]:
                stale.unlink(missing_ok=True)
        except OSError:
            partial.unlink(missing_ok=True)


def _cmap_chars(font: TTFont) -> frozenset[str]:
    return frozenset(chr(code) for code in font.getBestCmap() or ())


class FontSubset:
    """One subset font file of the face, named ``family``; rebuilt with the union of requests."""

    def __init__(
        self,
        face: FontFace,
        folder: Path,
        family: str,
        chars: frozenset[str] = frozenset(),
        disk_cache: FontFileCache | None = None,
    ):
        self.face = face
        self.folder = folder
        self.family = family
        self.disk_cache = disk_cache
        self.path: Path | None = None
        self._path_owner: int | None = None  # the process that wrote ``path``
        self.builds = 0
        self.requested: set[str] = set(chars)
        self._covered: frozenset[str] = frozenset()

    @property
    def chars(self) -> frozenset[str]:
        """The characters the current file has glyphs for."""
        return self._covered

    def build(self, more: set[str] | frozenset[str] = frozenset()) -> None:
        """Write a new file holding everything requested so far plus ``more`` (0.3 s + 0.6 ms a glyph).

        A big subset comes from the disk cache when an earlier process made the same one. A forked
        output process shares the folder with the process that made this object: file names carry
        the process id, and only the process that wrote a file removes it.
        """
        self.requested |= more
        self.builds += 1
        pid = os.getpid()
        path = self.folder / f"{self.family.replace(' ', '-').lower()}-{pid}-{self.builds}.otf"
        cache = self.disk_cache if self.disk_cache is not None and len(self.requested) >= self.disk_cache.min_chars else None
        key = cache.key(self.face, self.family, self.requested) if cache is not None else None
        covered = self._cached(key, path) if key is not None else None
        if covered is None:
            covered = self._subset(path)
            if not covered:
                return
            if cache is not None and key is not None:
                cache.store(key, path)
        if self.path is not None and self._path_owner == pid:
            self.path.unlink(missing_ok=True)
        self.path, self._path_owner = path, pid
        self._covered = covered

    def _subset(self, path: Path) -> frozenset[str]:
        """Make the subset file with fontTools; its characters (nothing is written when none)."""
        options = ft_subset.Options()
        options.layout_features = []
        options.drop_tables = [*options.drop_tables, "GSUB", "GPOS"]
        options.desubroutinize = True
        options.hinting = False
        options.notdef_outline = True
        subsetter = ft_subset.Subsetter(options)
        subsetter.populate(unicodes=sorted(ord(char) for char in self.requested))
        with TTFont(self.face.path, fontNumber=self.face.index, lazy=True, recalcBBoxes=False) as font:
            subsetter.subset(font)
            covered = _cmap_chars(font)
            if not covered:
                return covered
            _rename(font, self.family)
            font.save(path)
        return covered

    def _cached(self, key: str, path: Path) -> frozenset[str] | None:
        """The characters of the cached file for ``key``, copied to ``path``; None on a miss."""
        assert self.disk_cache is not None
        if not self.disk_cache.load(key, path):
            return None
        try:
            with TTFont(path, lazy=True) as font:
                covered = _cmap_chars(font)
        except Exception:  # a damaged cache file: build the subset instead
            path.unlink(missing_ok=True)
            return None
        if not covered:
            path.unlink(missing_ok=True)
            return None
        return covered

    def face_rule(self) -> str:
        assert self.path is not None
        return f'@font-face {{ font-family: "{self.family}"; src: url("{self.path.as_uri()}"); }}\n'


class FontCache:
    """The fonts of one renderer: a main subset and, once a run proves diverse, an extra one.

    The first ``prefill_after`` documents that bring new characters rebuild the main subset with
    the union (about 0.3 s each), which is all a small run ever needs. A run that keeps bringing
    new names would otherwise rebuild for most of its documents, so the next rebuild adds the
    ``prefill`` set (GB 2312: ~5 s, once) and freezes the main subset; characters outside it go
    to a small extra subset whose rebuilds stay cheap. Characters the face lacks never cause a
    rebuild; Pango takes them from another system font. With a ``disk_cache`` that already holds
    the prefilled subset, the first document takes it at once (see :meth:`ensure`).
    """

    def __init__(
        self,
        face: FontFace,
        folder: Path,
        base: frozenset[str],
        prefill: frozenset[str] | None = None,
        prefill_after: int = 2,
        disk_cache: FontFileCache | None = None,
    ):
        self.main = FontSubset(face, folder, SUBSET_FAMILY, base, disk_cache)
        self.extra: FontSubset | None = None
        self._prefill = prefill
        self._prefill_after = prefill_after
        self._face_chars: frozenset[str] | None = None

    @property
    def face_chars(self) -> frozenset[str]:
        """Every character the full face has (read once, 0.1 s): others never cause a rebuild."""
        if self._face_chars is None:
            face = self.main.face
            with TTFont(face.path, fontNumber=face.index, lazy=True) as font:
                self._face_chars = frozenset(chr(code) for code in font.getBestCmap() or ())
        return self._face_chars

    @property
    def subsets(self) -> list[FontSubset]:
        return [subset for subset in (self.main, self.extra) if subset is not None and subset.path is not None]

    @property
    def builds(self) -> int:
        return self.main.builds + (self.extra.builds if self.extra else 0)

    @property
    def chars(self) -> frozenset[str]:
        """Every character some subset file has a glyph for."""
        return frozenset().union(*(subset.chars for subset in self.subsets))

    def ensure(self, text: str) -> bool:
        """Make the subsets cover ``text`` as far as the face can; True when a file was rebuilt.

        When an earlier process left the prefilled subset this document needs in the disk cache,
        the first document starts with it: loading it costs less than making a small subset.
        """
        wanted = (set(text) & self.face_chars) - self.main.requested
        if self.extra is not None:
            wanted -= self.extra.requested
        if self.main.path is not None and not wanted:
            return False
        if self.extra is not None:
            self.extra.build(wanted)
        elif self.main.builds < self._prefill_after and not (self.main.path is None and self._prefill_cached(wanted)):
            self.main.build(wanted)
        else:
            self.main.build(wanted | self._prefill_chars())
            self.extra = FontSubset(self.main.face, self.main.folder, EXTRA_FAMILY)
        return True

    def _prefill_chars(self) -> frozenset[str]:
        return gb2312_hanzi() if self._prefill is None else self._prefill

    def _prefill_cached(self, wanted: set[str]) -> bool:
        """Whether the disk cache holds the prefilled main subset that would cover ``wanted``."""
        cache = self.main.disk_cache
        if cache is None:
            return False
        chars = self.main.requested | wanted | self._prefill_chars()
        return len(chars) >= cache.min_chars and cache.has(cache.key(self.main.face, self.main.family, chars))

    def stylesheet(self) -> str:
        """The @font-face rules and the font-family list of the current subsets."""
        families = ", ".join(f'"{subset.family}"' for subset in self.subsets)
        return "".join(subset.face_rule() for subset in self.subsets) + (
            f'html {{ font-family: {families}, "{CJK_FAMILY}", sans-serif; }}\n'
        )


def _rename(font: TTFont, family: str) -> None:
    """Give the subset its own family name so fontconfig never confuses it with the full face.

    Renaming a modified font is also what the SIL Open Font License asks for.
    """
    table = font["name"]
    table.names = [record for record in table.names if record.nameID not in (1, 2, 3, 4, 6, 16, 17, 21, 22)]
    postscript = family.replace(" ", "-")
    for name_id, value in ((1, family), (2, "Regular"), (3, postscript), (4, family), (6, postscript)):
        table.setName(value, name_id, 3, 1, 0x409)
