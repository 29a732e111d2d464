#!/usr/bin/env python3
"""Validates compose files the way iterc's tests need them validated.

    python3 tests/scripts/validate_compose.py [--schema PATH] [--no-docker-compose] FILE...

For each FILE:
  1. parse it as YAML (python3-yaml) and check it against the Compose
     Specification JSON schema (python3-jsonschema); the schema defaults to
     ../shared/data/compose-spec.json relative to the repository;
  2. when `docker-compose` is installed, run `docker-compose -f FILE config -q`
     on a copy of FILE in a temporary directory where every relative local
     build context is created as an empty directory (compose refuses a
     missing context; the real ones live next to the user's source), or,
     with --in-place, on FILE where it is, with no placeholder: every build
     context must then exist beside it (an emitted or `iterc build --context`
     directory checked as it is).

Exit status: 0 when every file passes, 1 when one fails, 2 on a usage error
or when a required Python module or the schema is missing.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_SCHEMA = os.path.join(REPO, "..", "shared", "data", "compose-spec.json")


def fail_usage(message):
    print("validate_compose: " + message, file=sys.stderr)
    sys.exit(2)


def load_modules():
    try:
        import yaml  # noqa: F401
    except ImportError:
        fail_usage("python3-yaml is not installed (apt-get install python3-yaml)")
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        fail_usage("python3-jsonschema is not installed "
                   "(apt-get install python3-jsonschema)")
    import yaml
    import jsonschema
    return yaml, jsonschema


def error_path(error):
    parts = [str(p) for p in error.absolute_path]
    return "/".join(parts) if parts else "(top level)"


def check_schema(path, document, validator):
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        print("%s: schema: at %s: %s" % (path, error_path(error), error.message))
        # oneOf/anyOf failures hide the useful reason in the context.
        for sub in sorted(error.context or [], key=lambda e: list(map(str, e.absolute_path))):
            print("%s: schema:   because at %s: %s" % (path, error_path(sub), sub.message))
    return not errors


def local_build_contexts(document):
    contexts = []
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        return contexts
    for service in services.values():
        if not isinstance(service, dict):
            continue
        build = service.get("build")
        context = build.get("context") if isinstance(build, dict) else build
        if not isinstance(context, str) or "://" in context or context.startswith("git@"):
            continue
        if os.path.isabs(context) or ".." in context.split("/"):
            continue
        contexts.append(context)
    return contexts


def run_docker_compose(path, compose_file, cwd):
    result = subprocess.run(
        ["docker-compose", "-f", compose_file, "config", "-q"],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True)
    if result.returncode != 0:
        for line in result.stdout.splitlines():
            print("%s: docker-compose: %s" % (path, line))
        print("%s: docker-compose config -q failed (exit %d)" % (path, result.returncode))
        return False
    print("%s: docker-compose config -q: ok" % path)
    return True


def check_docker_compose(path, document, in_place=False):
    if in_place:
        here = os.path.dirname(os.path.abspath(path))
        return run_docker_compose(path, os.path.abspath(path), here)
    with tempfile.TemporaryDirectory(prefix="validate-compose-") as tmp:
        copy = os.path.join(tmp, "compose.yaml")
        shutil.copyfile(path, copy)
        created = []
        for context in local_build_contexts(document):
            target = os.path.join(tmp, context)
            if not os.path.isdir(target):
                os.makedirs(target, exist_ok=True)
                created.append(context)
        if created:
            print("%s: docker-compose: placeholder build contexts: %s"
                  % (path, ", ".join(sorted(set(created)))))
        return run_docker_compose(path, copy, tmp)


def main():
    parser = argparse.ArgumentParser(description="Validate compose files against the "
                                     "Compose Specification schema and docker-compose.")
    parser.add_argument("--schema", default=DEFAULT_SCHEMA,
                        help="the compose-spec JSON schema (default: %(default)s)")
    parser.add_argument("--no-docker-compose", action="store_true",
                        help="do not run docker-compose config even when installed")
    parser.add_argument("--in-place", action="store_true",
                        help="run docker-compose config beside each FILE, with "
                        "no placeholder build contexts")
    parser.add_argument("files", nargs="+", metavar="FILE")
    args = parser.parse_args()

    yaml, jsonschema = load_modules()
    if not os.path.isfile(args.schema):
        fail_usage("schema not found: %s (pass --schema PATH)" % args.schema)
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    # The compose-spec schema is draft-07 (its "$schema" URL is spelt with
    # https, which jsonschema does not recognise, so name the draft here).
    validator = jsonschema.Draft7Validator(schema)

    use_compose = not args.no_docker_compose and shutil.which("docker-compose")
    if args.no_docker_compose:
        print("validate_compose: docker-compose config: SKIPPED (--no-docker-compose)")
    elif not use_compose:
        print("validate_compose: docker-compose config: SKIPPED (docker-compose not installed)")

    ok = True
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                document = yaml.safe_load(f)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            print("%s: cannot read as YAML: %s" % (path, e))
            ok = False
            continue
        if not isinstance(document, dict):
            print("%s: the top level is not a mapping" % path)
            ok = False
            continue
        file_ok = check_schema(path, document, validator)
        if file_ok:
            print("%s: compose-spec schema: ok" % path)
        if use_compose and not check_docker_compose(path, document, args.in_place):
            file_ok = False
        ok = ok and file_ok
    print("validate_compose: %s" % ("all files valid" if ok else "INVALID"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
