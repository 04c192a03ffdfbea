"""Every C++ snippet of the READMEs is in a source file that compiles and runs, and every
Python snippet of the Python package's README is in one of its examples or its BUILD file.

Each ```cpp block is split at blank lines into paragraphs; every paragraph must appear,
line by line (indentation aside), in one of the snippet sources, all in the same file.
A snippet edited in a README without its test (or the other way round) fails here.
"""

import os
import re
import sys
import unittest

PY_README = "client/python/README.md"
def readmes():
    """Every .md file in the runfiles (the BUILD lists them all), but the Python README."""
    root = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])
    found = []
    for directory, _, names in os.walk(root, followlinks=True):
        for name in names:
            if name.endswith(".md"):
                path = os.path.relpath(os.path.join(directory, name), root)
                if path != PY_README and not path.startswith("external"):
                    found.append(path)
    return sorted(found)


SOURCES = ["testing/examples/hello_world_test.cc",
           "testing/examples/readme_snippets_test.cc",
           "testing/shared_server_test.cc"]
PY_SOURCES = ["client/python/BUILD",
              "client/python/examples/test_hello.py",
              "client/python/examples/test_scripts_and_faults.py",
              "client/python/examples/test_tls_and_record.py",
              "client/python/examples/test_unix_socket.py"]


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

    def check(self, readmes, language, source_paths, at_least):
        sources = {path: [l.strip() for l in runfile(path).splitlines()]
                   for path in source_paths}
        snippets = 0
        missing = []
        for readme in readmes:
            for block in re.findall(r"```%s\n(.*?)```" % language, runfile(readme), re.S):
                snippets += 1
                if not any(all(contains(lines, p) for p in paragraphs(block))
                           for lines in sources.values()):
                    missing.append("%s:\n%s" % (readme, block))
        self.assertGreaterEqual(snippets, at_least)
        self.assertEqual(missing, [], "snippets in no source file:\n" +
                         "\n".join(missing))

    def test_every_markdown_file_is_read(self):
        # Each package's README and the docs beside them (a new one must be added to data).
        self.assertGreaterEqual(len(readmes()), 25, readmes())

    def test_every_cpp_snippet_is_in_a_test(self):
        self.check(readmes(), "cpp", SOURCES, 8)

    def test_every_python_snippet_is_in_an_example(self):
        self.check([PY_README], "python", PY_SOURCES, 4)


if __name__ == "__main__":
    sys.argv = sys.argv[:1]
    unittest.main()
