#!/usr/bin/env python3
"""Attributes every byte of a firmware's .text to the crate whose source it came from.

    attribute.py REPO SKELETON_ELF NAME=ELF [NAME=ELF ...]

Reads the DWARF line table of each ELF (.debug_line, with .debug_info for each compile
unit's directory) and walks it: each row covers the addresses from its own to the next
row's, and those bytes go to the crate of the row's source file. The line table records
the innermost source of every instruction, so code that LTO inlined into a caller counts
for the crate it was written in (ws13's parser inlined into the application's `serve`
is ws13's; `core::slice` code inlined into ws13 is core's). Two rules on top:

- compiler_builtins is linked as its own precompiled object, never inlined into callers:
  all rows of its compile units count as compiler_builtins, whatever file they name
  (its memcpy is written with core's pointer methods).
- bytes that no row covers (cortex-m-rt's assembly, alignment padding) go to the crate
  of the ELF symbol that holds them, or to "(no line info)".

Rows with line number 0 (code the compiler could not give one line) count for the file
the row names (the file register stays set). Prints, for each firmware, its bytes by
crate and its growth over the skeleton; then ws13's bytes by source file, the core files
that grew most, and compiler_builtins' functions by symbol.

Only the Python standard library: the ELF and DWARF 4/5 parsing is below.
"""

import os
import re
import struct
import sys
from collections import defaultdict


class Elf:
    """The sections and function symbols of a 32-bit little-endian ELF."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 1 or d[5] != 1:
            raise SystemExit(f"{path}: not a 32-bit little-endian ELF")
        shoff, = struct.unpack_from("<I", d, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x2E)
        raw = []
        for i in range(shnum):
            name, typ, _flags, addr, off, size, link = struct.unpack_from(
                "<IIIIIII", d, shoff + i * shentsize)
            raw.append((name, typ, addr, off, size, link))
        names_off = raw[shstrndx][3]
        self.sections = {}
        self.by_index = []
        for name, typ, addr, off, size, link in raw:
            end = d.index(b"\0", names_off + name)
            sname = d[names_off + name:end].decode()
            sec = {"name": sname, "type": typ, "addr": addr, "off": off, "size": size,
                   "link": link}
            self.sections[sname] = sec
            self.by_index.append(sec)

    def bytes(self, name):
        s = self.sections.get(name)
        return self.data[s["off"]:s["off"] + s["size"]] if s else b""

    def symbols(self):
        """Function and object symbols: (address, size, name), Thumb bit cleared."""
        sym = self.sections.get(".symtab")
        if not sym:
            return []
        strtab = self.by_index[sym["link"]]
        out = []
        for i in range(sym["size"] // 16):
            name, value, size, info, _other, _shndx = struct.unpack_from(
                "<IIIBBH", self.data, sym["off"] + i * 16)
            if size == 0 or (info & 0xF) not in (1, 2):
                continue
            start = strtab["off"] + name
            end = self.data.index(b"\0", start)
            out.append((value & ~1, size, self.data[start:end].decode(errors="replace")))
        return out


class Reader:
    """A cursor over bytes with the DWARF encodings."""

    def __init__(self, data, pos=0):
        self.d = data
        self.pos = pos

    def u(self, n):
        v = int.from_bytes(self.d[self.pos:self.pos + n], "little")
        self.pos += n
        return v

    def s8(self):
        v, = struct.unpack_from("<b", self.d, self.pos)
        self.pos += 1
        return v

    def uleb(self):
        result = shift = 0
        while True:
            b = self.d[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return result

    def sleb(self):
        result = shift = 0
        while True:
            b = self.d[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                if b & 0x40:
                    result -= 1 << shift
                return result

    def cstr(self):
        end = self.d.index(b"\0", self.pos)
        s = self.d[self.pos:end].decode(errors="replace")
        self.pos = end + 1
        return s


def cstr_at(data, off):
    end = data.index(b"\0", off)
    return data[off:end].decode(errors="replace")


# DW_FORM values this reader can take (those rustc, LLVM and GCC put in unit DIEs and
# line table headers).
FIXED = {0x01: 4, 0x05: 2, 0x06: 4, 0x07: 8, 0x0B: 1, 0x0C: 1, 0x0E: 4, 0x10: 4, 0x11: 1,
         0x12: 2, 0x13: 4, 0x14: 8, 0x17: 4, 0x19: 0, 0x1C: 4, 0x1D: 4, 0x1E: 16, 0x1F: 4,
         0x20: 8, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x29: 1, 0x2A: 2, 0x2B: 3, 0x2C: 4}
ULEB = {0x0D, 0x0F, 0x15, 0x1A, 0x1B, 0x22, 0x23}


def read_form(r, form, strs, line_strs, implicit=None):
    """Reads one attribute value: strings resolved, numbers as int, the rest skipped."""
    if form == 0x08:
        return r.cstr()
    if form == 0x0E:
        return cstr_at(strs, r.u(4))
    if form == 0x1F:
        return cstr_at(line_strs, r.u(4))
    if form in (0x0B, 0x05, 0x06, 0x07, 0x17, 0x01):
        return r.u(FIXED[form])
    if form == 0x0F:
        return r.uleb()
    if form == 0x0D:
        return r.sleb()
    if form == 0x21:
        return implicit
    if form in FIXED:
        r.pos += FIXED[form]
        return None
    if form in ULEB:
        r.uleb()
        return None
    if form in (0x09, 0x18):
        r.pos += r.uleb()
        return None
    if form == 0x0A:
        r.pos += r.u(1)
        return None
    if form == 0x03:
        r.pos += r.u(2)
        return None
    if form == 0x04:
        r.pos += r.u(4)
        return None
    if form == 0x16:
        return read_form(r, r.uleb(), strs, line_strs)
    raise SystemExit(f"attribute.py: DWARF form 0x{form:x} not handled")


def unit_dirs(elf):
    """For each compile unit: line table offset -> (unit name, compilation directory)."""
    info = elf.bytes(".debug_info")
    abbrev = elf.bytes(".debug_abbrev")
    strs = elf.bytes(".debug_str")
    line_strs = elf.bytes(".debug_line_str")
    units = {}
    pos = 0
    while pos < len(info):
        r = Reader(info, pos)
        length = r.u(4)
        end = r.pos + length
        version = r.u(2)
        if version >= 5:
            _unit_type = r.u(1)
            _addr_size = r.u(1)
            abbrev_off = r.u(4)
        else:
            abbrev_off = r.u(4)
            _addr_size = r.u(1)
        code = r.uleb()
        # Find the abbreviation of the unit's first DIE.
        a = Reader(abbrev, abbrev_off)
        while True:
            acode = a.uleb()
            if acode == 0:
                raise SystemExit("attribute.py: abbreviation not found")
            _tag = a.uleb()
            a.u(1)
            specs = []
            while True:
                name, form = a.uleb(), a.uleb()
                if name == 0 and form == 0:
                    break
                implicit = a.sleb() if form == 0x21 else None
                specs.append((name, form, implicit))
            if acode == code:
                break
        attrs = {}
        for name, form, implicit in specs:
            attrs[name] = read_form(r, form, strs, line_strs, implicit)
        if 0x10 in attrs:
            units[attrs[0x10]] = (attrs.get(0x03) or "", attrs.get(0x1B) or "")
        pos = end
    return units


def line_ranges(elf):
    """(start, end, path, unit name, sequence start) for every row of every line table."""
    line = elf.bytes(".debug_line")
    strs = elf.bytes(".debug_str")
    line_strs = elf.bytes(".debug_line_str")
    units = unit_dirs(elf)
    pos = 0
    while pos < len(line):
        table_off = pos
        r = Reader(line, pos)
        length = r.u(4)
        end = r.pos + length
        version = r.u(2)
        if version >= 5:
            r.u(2)  # address and segment selector sizes
        header_length = r.u(4)
        program = r.pos + header_length
        min_inst = r.u(1)
        if version >= 4:
            r.u(1)  # maximum operations per instruction (1 on ARM)
        r.u(1)  # default_is_stmt
        line_base = r.s8()
        line_range = r.u(1)
        opcode_base = r.u(1)
        std_lengths = [r.u(1) for _ in range(opcode_base - 1)]
        unit_name, comp_dir = units.get(table_off, ("", ""))
        dirs, files = [], []
        if version >= 5:
            for kind in ("dirs", "files"):
                fmt_count = r.u(1)
                fmt = [(r.uleb(), r.uleb()) for _ in range(fmt_count)]
                for _ in range(r.uleb()):
                    entry = {}
                    for content, form in fmt:
                        entry[content] = read_form(r, form, strs, line_strs)
                    if kind == "dirs":
                        dirs.append(os.path.join(comp_dir, entry.get(1) or ""))
                    else:
                        d = dirs[entry.get(2) or 0] if dirs else comp_dir
                        files.append(os.path.join(d, entry.get(1) or ""))
        else:
            dirs.append(comp_dir)
            while True:
                d = r.cstr()
                if not d:
                    break
                dirs.append(os.path.join(comp_dir, d))
            files.append(None)  # DWARF 4 file numbers start at 1
            while True:
                name = r.cstr()
                if not name:
                    break
                d = r.uleb()
                r.uleb()
                r.uleb()
                files.append(os.path.join(dirs[d] if d < len(dirs) else comp_dir, name))

        def path_of(f):
            return files[f] if 0 <= f < len(files) and files[f] else "?"

        r.pos = program
        address, file, line_no = 0, 1, 1
        prev = None  # (address, file, line) of the last row in the sequence
        seq_start = 0
        while r.pos < end:
            op = r.u(1)
            emit = False
            if op >= opcode_base:
                adj = op - opcode_base
                address += (adj // line_range) * min_inst
                line_no += line_base + adj % line_range
                emit = True
            elif op == 0:
                size = r.uleb()
                sub = r.u(1)
                if sub == 1:  # end_sequence
                    if prev is not None and address > prev[0]:
                        yield prev[0], address, path_of(prev[1]), unit_name, seq_start
                    prev = None
                    address, file, line_no = 0, 1, 1
                elif sub == 2:
                    address = r.u(size - 1)
                elif sub == 3:
                    name = r.cstr()
                    d = r.uleb()
                    r.uleb()
                    r.uleb()
                    files.append(os.path.join(dirs[d] if d < len(dirs) else comp_dir, name))
                else:
                    r.pos += size - 1
            elif op == 1:  # copy
                emit = True
            elif op == 2:
                address += r.uleb() * min_inst
            elif op == 3:
                line_no += r.sleb()
            elif op == 4:
                file = r.uleb()
            elif op == 5:
                r.uleb()
            elif op in (6, 7, 10, 11):
                pass
            elif op == 8:
                address += ((255 - opcode_base) // line_range) * min_inst
            elif op == 9:
                address += r.u(2)
            elif op == 12:
                r.uleb()
            else:
                for _ in range(std_lengths[op - 1]):
                    r.uleb()
            if emit:
                if prev is None:
                    seq_start = address
                elif address > prev[0]:
                    yield prev[0], address, path_of(prev[1]), unit_name, seq_start
                prev = (address, file, line_no)
        pos = end


REGISTRY = re.compile(r"/registry/src/[^/]+/([A-Za-z0-9_.-]+?)-\d+\.\d+\.\d+[^/]*/")
LIBRARY = re.compile(r"(?:^|/)library/([a-z_-]+)/")


def crate_of(path, unit, repo):
    """The crate (or firmware part) a source file belongs to."""
    if "compiler-builtins" in unit or "compiler_builtins" in unit:
        return "compiler_builtins"
    path = os.path.normpath(path)
    size_dir = os.path.join(repo, "qemu", "size", "src")
    if path == os.path.join(size_dir, "lib.rs"):
        return "skeleton"
    if path.startswith(size_dir + "/bin/"):
        return "application"
    if path.startswith(os.path.join(repo, "src") + "/"):
        return "ws13"
    m = REGISTRY.search(path)
    if m:
        return m.group(1).replace("-", "_")
    m = LIBRARY.search(path)
    if m:
        name = m.group(1).replace("-", "_")
        return "compiler_builtins" if name.startswith("compiler_builtins") else name
    return "other: " + path


def crate_of_symbol(name):
    if name.startswith(("_ZN", "_R")):
        crate = demangled(name).split("::")[0]
        return "compiler_builtins" if crate.startswith("compiler_builtins") else crate
    if name.startswith(("__aeabi_", "memcpy", "memmove", "memset", "memcmp", "__udiv",
                        "__div", "__mod", "__umod")):
        return "compiler_builtins"
    # cortex-m-rt's entry, handlers and the names its macros generate.
    if name in ("Reset", "HardFault", "HardFaultTrampoline", "DefaultHandler_", "DefaultPreInit",
                "HardFault_", "__pre_init") or name.startswith("__cortex_m_rt"):
        return "cortex_m_rt"
    return None


def attribute(path, repo):
    """.text and .rodata sizes, and .text bytes by crate and by source file of ws13."""
    elf = Elf(path)
    text = elf.sections[".text"]
    lo, hi = text["addr"], text["addr"] + text["size"]
    owner = [None] * text["size"]
    files = defaultdict(lambda: defaultdict(int))
    overlap = 0
    for start, end, src, unit, seq_start in line_ranges(elf):
        # The linker leaves the rows of functions it dropped at address 0 (or -1): a
        # sequence counts only if it starts in .text.
        if not lo <= seq_start < hi:
            continue
        start, end = max(start, lo), min(end, hi)
        if start >= end:
            continue
        crate = crate_of(src, unit, repo)
        for a in range(start - lo, end - lo):
            if owner[a] is None:
                owner[a] = crate
                files[crate][src] += 1
            else:
                overlap += 1
    uncovered = 0
    builtins = {}
    for addr, size, name in elf.symbols():
        if lo <= addr < hi and crate_of_symbol(name) == "compiler_builtins":
            builtins[demangled(name)] = size
        crate = crate_of_symbol(name) or "(no line info)"
        for a in range(max(addr, lo) - lo, min(addr + size, hi) - lo):
            if owner[a] is None:
                owner[a] = crate
    by_crate = defaultdict(int)
    for c in owner:
        if c is None:
            uncovered += 1
            c = "(no line info)"
        by_crate[c] += 1
    rodata = elf.sections.get(".rodata", {"size": 0})["size"]
    return {"text": text["size"], "rodata": rodata, "crates": by_crate, "files": files,
            "builtins": builtins, "overlap": overlap, "uncovered": uncovered}


def demangled(name):
    """The path (crate::module::function) of a Rust symbol, or the name itself."""
    if name.startswith("_R"):
        # v0 mangling (compiler_builtins uses it): the path is the run of length-prefixed
        # identifiers that ends the name, as in _RNvNtCs..._17compiler_builtins3mem6memcpy.
        for m in re.finditer(r"\d+", name):
            i, parts = m.start(), []
            while i < len(name) and name[i].isdigit():
                j = i
                while j < len(name) and name[j].isdigit():
                    j += 1
                n = int(name[i:j])
                parts.append(name[j:j + n])
                i = j + n
            if i == len(name) and parts and all(parts):
                return "::".join(parts)
        return name
    if not name.startswith("_ZN"):
        return name
    parts, i = [], 3
    while i < len(name) and name[i].isdigit():
        j = i
        while j < len(name) and name[j].isdigit():
            j += 1
        n = int(name[i:j])
        parts.append(name[j:j + n])
        i = j + n
    if parts and re.fullmatch(r"h[0-9a-f]{16}", parts[-1]):
        parts.pop()
    return "::".join(parts) or name


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    repo = os.path.realpath(argv[0])
    base = attribute(argv[1], repo)
    firmwares = []
    for arg in argv[2:]:
        name, _, path = arg.partition("=")
        firmwares.append((name, attribute(path, repo)))
    crates = sorted(set(base["crates"]).union(*(f["crates"] for _, f in firmwares)),
                    key=lambda c: -max(f["crates"].get(c, 0) for _, f in firmwares))
    head = f"  {'.text by crate':<22} {'skeleton':>8}"
    for name, _ in firmwares:
        head += f" {name:>10} {'growth':>7}"
    print(head)
    for c in crates + ["total"]:
        row = f"  {c:<22} "
        b = base["text"] if c == "total" else base["crates"].get(c, 0)
        row += f"{b:>8}"
        for _, f in firmwares:
            v = f["text"] if c == "total" else f["crates"].get(c, 0)
            row += f" {v:>10} {v - b:>+7}"
        print(row)
    for name, f in firmwares:
        ws13 = f["files"].get("ws13")
        if ws13:
            print(f"  ws13 in {name}, by source file: " + ", ".join(
                f"{os.path.relpath(p, repo)} {n}"
                for p, n in sorted(ws13.items(), key=lambda kv: -kv[1])))
    for name, f in firmwares:
        # One file may appear under two paths (the precompiled core's /rustc/<hash>/...
        # and, with the rust-src component installed, the local copy that generic code
        # instantiated in the firmware names): counted by the path inside core.
        def in_core(files):
            out = defaultdict(int)
            for p, n in files.items():
                out[p.split("/library/core/src/")[-1]] += n
            return out
        core = in_core(f["files"].get("core", {}))
        base_core = in_core(base["files"].get("core", {}))
        growth = {p: n - base_core.get(p, 0) for p, n in core.items()}
        top = sorted(growth.items(), key=lambda kv: -kv[1])[:8]
        print(f"  core's growth in {name}, largest files: " + ", ".join(
            f"{p} {n:+d}" for p, n in top))
    for name, f in [("skeleton", base)] + firmwares:
        print(f"  compiler_builtins in {name}, by symbol: " + ", ".join(
            f"{n} {size}" for n, size in sorted(f["builtins"].items(), key=lambda kv: -kv[1])))
    for name, f in [("skeleton", base)] + firmwares:
        if f["overlap"]:
            print(f"  warning: {name}: {f['overlap']} bytes claimed by two line-table rows")


if __name__ == "__main__":
    main(sys.argv[1:])
