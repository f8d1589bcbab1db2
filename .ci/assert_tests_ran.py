"""Fail when a test run executed nothing (every test skipped or none collected), or when a
test module named in SARA_MUST_RUN (space-separated) skipped any test."""

import os
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
must_run = os.environ.get("SARA_MUST_RUN", "").split()
skipped_there = [
    f"{case.get('classname')}::{case.get('name')}"
    for case in root.iter("testcase")
    if case.find("skipped") is not None
    and any(module in (case.get("classname") or "").split(".") for module in must_run)
]
if skipped_there:
    sys.exit("these tests must run here but skipped:\n" + "\n".join(skipped_there))
for module in must_run:
    if not any(module in (c.get("classname") or "").split(".") for c in root.iter("testcase")):
        sys.exit(f"no test of {module} ran")
sys.exit(1 if failed else 0)
