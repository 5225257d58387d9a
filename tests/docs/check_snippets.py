#!/usr/bin/env python3
"""check_snippets.py CXX INCLUDE_DIR... -- FILE.md...

Compiles every ```cpp block of the given Markdown files against the public headers, so that
an example in the docs cannot rot. A block without its own main() or #include is a function
body: it is wrapped in one, after #include <proctrail/proctrail.hpp> and the standard headers
the examples use. Fails, naming the file and line of the block, when one does not compile.
"""
import subprocess
import sys
import tempfile

PREAMBLE = """#include <proctrail/proctrail.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <vector>
"""


def blocks(path):
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    inside, start, body = False, 0, []
    for n, line in enumerate(lines, 1):
        if not inside and line.strip() in ("```cpp", "```c++"):
            inside, start, body = True, n, []
        elif inside and line.strip() == "```":
            inside = False
            yield start, "".join(body)
        elif inside:
            body.append(line)


def main():
    sep = sys.argv.index("--")
    cxx, includes, files = sys.argv[1], sys.argv[2:sep], sys.argv[sep + 1:]
    checked, failed = 0, 0
    for path in files:
        for line, code in blocks(path):
            if "int main" in code:
                source = code
            else:
                head = "".join(l for l in code.splitlines(True) if l.startswith("#include"))
                rest = "".join(l for l in code.splitlines(True) if not l.startswith("#include"))
                source = PREAMBLE + head + "\nvoid snippet() {\n" + rest + "\n}\n"
            with tempfile.NamedTemporaryFile("w", suffix=".cpp") as f:
                f.write(source)
                f.flush()
                cmd = [cxx, "-std=c++20", "-fsyntax-only", "-Wall", "-Wno-unused-variable",
                       "-Wno-unused-parameter", "-Wno-unused-but-set-variable"]
                cmd += ["-I" + i for i in includes] + [f.name]
                r = subprocess.run(cmd, capture_output=True, text=True)
            checked += 1
            if r.returncode != 0:
                failed += 1
                print(f"{path}:{line}: this example does not compile:\n{r.stderr}")
    if checked == 0:
        print("no C++ examples found: nothing was checked")
        return 1
    print(f"{checked} C++ examples checked, {failed} failed to compile")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
