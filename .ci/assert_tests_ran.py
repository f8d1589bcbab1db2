"""Fail when a test run executed nothing (every test skipped or none collected)."""

import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tests = sum(int(s.get("tests", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
executed = tests - skipped
print(f"{executed - failed} passed, {failed} failed, {skipped} skipped")
if executed <= 0:
    sys.exit("no test was executed")
sys.exit(1 if failed else 0)
