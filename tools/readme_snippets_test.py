"""Every C++ snippet of the READMEs is in a source file that compiles and runs.

Each ```cpp block is split at blank lines into paragraphs; every paragraph must appear,
line by line (indentation aside), in one of the snippet sources, all in the same file.
A snippet edited in a README without its test (or the other way round) fails here.
"""

import os
import re
import sys
import unittest

READMES = ["README.md", "server/README.md", "testing/README.md", "client/README.md",
           "tools/README.md"]
SOURCES = ["testing/examples/hello_world_test.cc",
           "testing/examples/readme_snippets_test.cc",
           "testing/shared_server_test.cc"]


def runfile(path):
    root = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])
    with open(os.path.join(root, path), encoding="utf-8") as f:
        return f.read()


def paragraphs(snippet):
    out, current = [], []
    for line in snippet.splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def contains(lines, paragraph):
    n = len(paragraph)
    return any(lines[i:i + n] == paragraph for i in range(len(lines) - n + 1))


class ReadmeSnippetsTest(unittest.TestCase):

    def test_every_cpp_snippet_is_in_a_test(self):
        sources = {path: [l.strip() for l in runfile(path).splitlines()]
                   for path in SOURCES}
        snippets = 0
        missing = []
        for readme in READMES:
            for block in re.findall(r"```cpp\n(.*?)```", runfile(readme), re.S):
                snippets += 1
                if not any(all(contains(lines, p) for p in paragraphs(block))
                           for lines in sources.values()):
                    missing.append("%s:\n%s" % (readme, block))
        self.assertGreaterEqual(snippets, 8)
        self.assertEqual(missing, [], "snippets in no source file:\n" +
                         "\n".join(missing))


if __name__ == "__main__":
    sys.argv = sys.argv[:1]
    unittest.main()
