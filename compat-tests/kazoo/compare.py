#!/usr/bin/env python3
"""Read the JUnit XML of one or more kazoo test runs and judge them.

Used by compat-tests/kazoo/run; standard library only.

    compare.py report  --junit R.xml [--expected F [--also-expected F] --known F] [--subset]
    compare.py gate    --junit R.xml [--junit RERUN.xml] --expected F [--also-expected F]
                       --known F [--racy F [--rerun-list OUT]] [--subset]
    compare.py update  --junit R1.xml [--junit R2.xml ...] --expected F

`report` prints the counts (and, given the lists, how the run stands against them) and
exits 0. `gate` exits 1 when a test from the expected list that is not a known exception did
not pass. `update` rewrites the expected list with the tests that passed in every given run.
`--also-expected` adds the tests of a second list to the expected ones (the ensemble run's
expected-pass-ensemble.txt: tests that pass only with several servers).

`--racy` names the tests whose outcome hangs on the client's own thread scheduling (see
racy.txt). When every regression of a gate is such a test, `--rerun-list OUT` writes their
ids to OUT and the gate exits 3: `run` then runs just those once more and gates again with
the rerun's XML as a second `--junit`, where a racy test that passed counts as passed (and is
listed as such). Any other regression fails the gate at once; no test outside racy.txt is
ever rerun.

Test ids are pytest node ids (kazoo/tests/test_lock.py::KazooLockTests::test_rw_lock), which
kazoo_compat_plugin.py stores in the XML as a property of each test case.
"""

import argparse
import sys
import xml.etree.ElementTree as ET

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


def node_id(case):
    """The pytest node id of a <testcase>, from the property kazoo_compat_plugin records."""
    for prop in case.iter("property"):
        if prop.get("name") == "nodeid":
            return prop.get("value")
    raise ValueError(
        "testcase %s.%s has no nodeid property; was pytest run with -p kazoo_compat_plugin?"
        % (case.get("classname"), case.get("name"))
    )


# The skip message kazoo_compat_plugin gives tests it never started for lack of time.
BUDGET_MARK = "suite time budget used up"


def read_junit(path, budget_skipped=None):
    """Map node id -> passed | failed | skipped for one run.

    Node ids of tests skipped for lack of time are added to the set budget_skipped."""
    results = {}
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        nid = node_id(case)
        if "failure" in tags or "error" in tags:
            outcome = FAILED
        elif "skipped" in tags:
            outcome = SKIPPED
            if budget_skipped is not None and any(
                BUDGET_MARK in (child.get("message") or "") for child in case
            ):
                budget_skipped.add(nid)
        else:
            outcome = PASSED
        # A test that passed but whose teardown broke is one failed test.
        if results.get(nid) != FAILED:
            results[nid] = outcome
    return results


def read_list(path):
    """Node ids from a list file: one per line, '#' starts a comment.

    Returns {node id: comment text after the id (may be empty)}."""
    entries = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            text, _, comment = raw.partition("#")
            text = text.strip()
            if not text:
                continue
            if text in entries:
                raise SystemExit("%s:%d: duplicate entry %s" % (path, lineno, text))
            entries[text] = comment.strip()
    return entries


def counts(results):
    c = {PASSED: 0, FAILED: 0, SKIPPED: 0}
    for outcome in results.values():
        c[outcome] += 1
    return c


def print_counts(label, results):
    c = counts(results)
    print(
        "%s: %d passed, %d failed, %d skipped (%d tests)"
        % (label, c[PASSED], c[FAILED], c[SKIPPED], len(results))
    )


def print_list(title, ids, results=None):
    if not ids:
        return
    print("%s (%d):" % (title, len(ids)))
    for nid in sorted(ids):
        if results is not None:
            print("  %-8s %s" % (results.get(nid, "not run"), nid))
        else:
            print("  " + nid)


def judge(results, expected, known, subset):
    """Return (regressions, known_failing, known_passing, missing, new_passes)."""
    unknown = sorted(set(known) - set(expected))
    if unknown:
        raise SystemExit(
            "known-exceptions lists tests that are not in expected-pass.txt:\n  "
            + "\n  ".join(unknown)
        )
    missing_reason = [nid for nid, reason in known.items() if not reason]
    if missing_reason:
        raise SystemExit(
            "known-exceptions entries need a reason comment:\n  "
            + "\n  ".join(sorted(missing_reason))
        )
    regressions, known_failing, known_passing, missing = [], [], [], []
    for nid in expected:
        outcome = results.get(nid)
        if outcome is None:
            # Not run at all: a deselected test in a subset run, a vanished test otherwise.
            if not subset and nid not in known:
                missing.append(nid)
            continue
        if nid in known:
            (known_passing if outcome == PASSED else known_failing).append(nid)
        elif outcome != PASSED:
            regressions.append(nid)
    new_passes = [
        nid for nid, outcome in results.items() if outcome == PASSED and nid not in expected
    ]
    return regressions, known_failing, known_passing, missing, new_passes


def cmd_report_or_gate(args, gate):
    out_of_time = set()
    results = read_junit(args.junit[0], out_of_time)
    if not results:
        print("no test results in %s" % args.junit[0])
        return 1
    print_counts("kazoo suite", results)
    racy = read_list(args.racy) if args.racy else {}
    missing_reason = [nid for nid, reason in racy.items() if not reason]
    if missing_reason:
        raise SystemExit("racy entries need a reason comment:\n  " + "\n  ".join(missing_reason))
    passed_on_rerun = []
    for path in args.junit[1:]:
        for nid, outcome in read_junit(path).items():
            if nid in racy and results.get(nid) == FAILED and outcome == PASSED:
                results[nid] = PASSED
                passed_on_rerun.append(nid)
    if out_of_time:
        print(
            "TIME BUDGET: %d tests were not started because the run's time budget ran out"
            % len(out_of_time)
        )
    failed = [nid for nid, o in results.items() if o == FAILED]
    # What the lists show as each test's outcome.
    shown = dict(results)
    shown.update((nid, "no time") for nid in out_of_time)
    if not args.expected:
        print_list("Failed tests", failed)
        return 0
    expected = read_list(args.expected)
    if args.also_expected:
        for nid, comment in read_list(args.also_expected).items():
            if nid in expected:
                raise SystemExit("%s lists %s, which %s has" % (args.also_expected, nid, args.expected))
            expected[nid] = comment
    known = read_list(args.known) if args.known else {}
    regressions, known_failing, known_passing, missing, new_passes = judge(
        results, expected, known, args.subset
    )
    considered = [nid for nid in expected if nid not in known]
    if not args.subset:
        ok = len(considered) - len(regressions) - len(missing)
        print(
            "expected list: %d of %d required tests passed (%d known exceptions)"
            % (ok, len(considered), len(known))
        )
    else:
        ran = [nid for nid in considered if nid in results]
        print(
            "expected list (subset run): %d of %d required tests that ran passed"
            % (len(ran) - len(regressions), len(ran))
        )
    other_failed = [nid for nid in failed if nid not in expected]
    print_list("Known exceptions that failed (allowed)", known_failing, shown)
    print_list(
        "Known exceptions that now PASS (remove them from known-exceptions.txt)",
        known_passing,
    )
    print_list("Failed, not in the expected list (allowed)", other_failed)
    print_list("Passed, not in the expected list", new_passes)
    print_list("Racy tests that failed, then passed when run again (see racy.txt)", passed_on_rerun)
    print_list("REGRESSIONS: expected to pass, did not", regressions, shown)
    print_list("MISSING: expected to pass, not run at all", missing)
    rerun = [nid for nid in regressions if nid in racy]
    if (
        gate
        and args.rerun_list
        and rerun
        and len(rerun) == len(regressions)
        and not missing
        and len(args.junit) == 1
    ):
        with open(args.rerun_list, "w", encoding="utf-8") as fh:
            fh.writelines(nid + "\n" for nid in rerun)
        print("RESULT: RERUN (%d racy tests failed; running them once more)" % len(rerun))
        return 3
    if gate and (regressions or missing):
        print("RESULT: FAIL (%d regressions, %d missing)" % (len(regressions), len(missing)))
        return 1
    if gate:
        print("RESULT: OK")
    return 0


def cmd_update(args):
    runs = [read_junit(path) for path in args.junit]
    for i, path in enumerate(args.junit, 1):
        out_of_time = set()
        results = read_junit(path, out_of_time)
        print_counts("run %d" % i, results)
        if not results or out_of_time:
            print("run %d is incomplete; expected list not updated" % i)
            return 1
    always = set(nid for nid, o in runs[0].items() if o == PASSED)
    sometimes = set(always)
    for results in runs[1:]:
        passed = set(nid for nid, o in results.items() if o == PASSED)
        always &= passed
        sometimes |= passed
    flaky = sorted(sometimes - always)
    print_list("Passed in some runs only (left out as racy)", flaky)
    old = set(read_list(args.expected)) if args.previous_exists else set()
    with open(args.expected, "w", encoding="utf-8") as fh:
        fh.write(
            "# kazoo 2.10.0 tests that PASS against Apache ZooKeeper 3.8 standalone (Debian\n"
            "# 3.8.0), one pytest node id per line, sorted. Written by\n"
            "#   compat-tests/kazoo/run --update-expected --runs %d\n"
            "# which keeps only the tests that passed in all %d runs.\n" % (len(runs), len(runs))
        )
        for nid in sorted(always):
            fh.write(nid + "\n")
    print("wrote %d tests to %s" % (len(always), args.expected))
    if args.previous_exists:
        print_list("Added to the expected list", sorted(always - old))
        print_list("Dropped from the expected list", sorted(old - always))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["report", "gate", "update"])
    parser.add_argument("--junit", action="append", required=True)
    parser.add_argument("--expected")
    parser.add_argument("--also-expected")
    parser.add_argument("--known")
    parser.add_argument("--racy")
    parser.add_argument("--rerun-list")
    parser.add_argument("--subset", action="store_true")
    args = parser.parse_args()
    if args.command == "update":
        if not args.expected:
            parser.error("update needs --expected")
        try:
            open(args.expected).close()
            args.previous_exists = True
        except FileNotFoundError:
            args.previous_exists = False
        return cmd_update(args)
    if args.command == "gate" and not (args.expected and args.known):
        parser.error("gate needs --expected and --known")
    return cmd_report_or_gate(args, args.command == "gate")


if __name__ == "__main__":
    sys.exit(main())
