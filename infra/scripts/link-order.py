#!/usr/bin/env python3
"""Records the functions a `dynsync run` executes into cli/link-order.txt.

cli/build.rs hands that file to LLD (`--symbol-ordering-file`), which places the listed
functions side by side at the start of `.text`: a run then maps ~3 MB of code instead of
5-7 MB scattered over the whole binary (README, Benchmarks). Not part of the test command.

    python3 infra/scripts/link-order.py

1. Builds what the benchmarks build (`cargo build --release --locked -p dynsync
   -p dynsync-emulators --bins`) with DYNSYNC_LINK_MAP set, so LLD writes its link map.
2. Runs `dynsync run` of 6,000 contacts at page size 500 and 5,000 against the emulators
   (infra/scripts/bench-peer.py --dynsync-only) under `valgrind --tool=callgrind`, which
   writes the address of every instruction it ran (the binary is stripped: no names).
3. Every such address lies in one input section of the link map; the first symbol of each
   section hit goes to the file, in the build's own order.

Names carry hashes of the toolchain, the profile and the dependency versions: after an
upgrade, run this again (it prints how much of the old list the build still defines). A
name the build does not define is skipped by LLD; nothing breaks, the function just lands
where it would anyway.
"""

import bisect
import functools
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ORDER_FILE = os.path.join(ROOT, "cli", "link-order.txt")
BUILD = ["cargo", "build", "--release", "--locked", "-p", "dynsync", "-p", "dynsync-emulators", "--bins"]
# One map line: VMA LMA Size Align, then the output section (no indent), an input section
# (8 spaces) or a symbol (16 spaces).
MAP_LINE = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(\S.*)$")


def sh(argv, **kw):
    print("+ " + " ".join(argv), file=sys.stderr)
    subprocess.run(argv, cwd=ROOT, check=True, **kw)


def read_map(path):
    """The `.text` input sections of an LLD map: [(start, end, [symbols])] by address."""
    sections, out = [], None
    with open(path, errors="replace") as f:
        for line in f:
            m = MAP_LINE.match(line)
            if not m:
                continue
            vma, size, indent, text = int(m[1], 16), int(m[2], 16), len(m[3]), m[4].strip()
            if indent == 0:
                out = text
            elif out == ".text" and indent == 8 and size > 0:
                sections.append([vma, vma + size, []])
            elif out == ".text" and indent == 16 and sections:
                sections[-1][2].append(text)
    sections.sort()
    return sections


def executed_addresses(folder, binary):
    """Addresses of the instructions callgrind ran inside `binary` (its cost lines, one per
    instruction with --dump-instr=yes, absolute with --compress-pos=no)."""
    addresses = set()
    is_binary = functools.lru_cache(maxsize=None)(lambda path: os.path.realpath(path) == os.path.realpath(binary))
    for path in glob.glob(os.path.join(folder, "cg.*")):
        in_binary = False
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("ob="):
                    in_binary = is_binary(line[3:].strip())
                elif in_binary and line.startswith("0x"):
                    addresses.add(int(line.split(None, 1)[0], 16))
    return addresses


def main():
    if shutil.which("valgrind") is None:
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq", "valgrind"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    work = tempfile.mkdtemp(prefix="dynsync-link-order-")
    link_map = os.path.join(work, "dynsync.map")
    sh(BUILD, env={**os.environ, "DYNSYNC_LINK_MAP": link_map})
    release = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR", "target"), "release")
    binary = os.path.join(release, "dynsync")
    wrapper = os.path.join(work, "dynsync-callgrind")
    with open(wrapper, "w") as f:
        f.write(
            "#!/bin/sh\nexec valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no "
            f"--callgrind-out-file={work}/cg.%p {binary} \"$@\"\n"
        )
    os.chmod(wrapper, 0o755)
    sh(
        [
            sys.executable, "infra/scripts/bench-peer.py", "--connector", "none", "--dynsync-only",
            "--dynsync", wrapper,
            "--dataverse-emulator", os.path.join(release, "dataverse-emulator"),
            "--insider-emulator", os.path.join(release, "insider-emulator"),
            "--contacts", "6000", "--concurrency", "4", "--page-sizes", "500", "5000", "--rounds", "1",
        ]
    )

    sections = read_map(link_map)
    if not sections:
        sys.exit(f"no .text input sections in {link_map}: is the binary linked by LLD (cli/build.rs)?")
    addresses = executed_addresses(work, binary)
    starts = [s[0] for s in sections]
    hot, outside = set(), 0
    for address in addresses:
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0 and address < sections[i][1]:
            hot.add(i)
        else:
            outside += 1
    if outside > len(addresses) // 100:
        sys.exit(f"{outside} of {len(addresses)} executed addresses lie outside .text: is the binary position-dependent?")

    defined = {name for s in sections for name in s[2]}
    old = []
    if os.path.exists(ORDER_FILE):
        with open(ORDER_FILE) as f:
            old = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    kept = sum(1 for name in old if name in defined)
    order = [sections[i][2][0] for i in sorted(hot) if sections[i][2]]
    hot_bytes = sum(sections[i][1] - sections[i][0] for i in hot)
    text_bytes = sum(e - s for s, e, _ in sections)
    with open(ORDER_FILE, "w") as f:
        f.write(
            "# The functions a `dynsync run` executes, in link order: cli/build.rs hands this file\n"
            "# to LLD (--symbol-ordering-file), which places them side by side. Written by\n"
            "# infra/scripts/link-order.py; run it again after a toolchain or dependency upgrade.\n"
        )
        f.writelines(name + "\n" for name in order)
    shutil.rmtree(work, ignore_errors=True)
    print(f"old list: {kept:,} of {len(old):,} names defined in this build")
    print(
        f"wrote {len(order):,} functions to {os.path.relpath(ORDER_FILE, ROOT)}: "
        f"{hot_bytes / 1e6:.2f} MB executed of {text_bytes / 1e6:.2f} MB of .text"
    )
    print("the next release build links them first; infra/scripts/bench-peer.sh shows the effect")


if __name__ == "__main__":
    main()
