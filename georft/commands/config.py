"""Check configs: `georft config check [FILES...]` validates YAMLs under configs/ (all of them by default)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser("check", help="validate config files against their schemas")
    check.add_argument("files", nargs="*", help="YAML files (default: every configs/**/*.yaml)")
    check.add_argument("--root", default="configs", help="configs folder (default: configs)")
    show = sub.add_parser("show", help="print a config with every default filled in")
    show.add_argument("file", help="YAML file under configs/")
    show.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    show.add_argument("--root", default="configs")
    show.add_argument("--key", action="append", default=[], metavar="DOTTED.KEY",
                      help="print only this resolved value (repeatable: one line each); what the launchers read")


def run(args: argparse.Namespace) -> int:
    from georft.config import check_config_file, load_config, schema_for, to_yaml

    if args.config_command == "show":
        cfg = load_config(schema_for(args.file, args.root), args.file, args.overrides)
        if not args.key:
            print(to_yaml(cfg), end="")
            return 0
        from omegaconf import OmegaConf

        from data_engine.errors import UserError

        node = OmegaConf.structured(cfg)
        for key in args.key:
            value = OmegaConf.select(node, key, default=None, throw_on_missing=False)
            if value is None or OmegaConf.is_config(value):
                raise UserError(f"{args.file}: {key!r} is not a value of this config")
            print(value)
        return 0
    files = [Path(f) for f in args.files] or sorted(Path(args.root).rglob("*.yaml"))
    for f in files:
        check_config_file(f, args.root)
        print(f"ok  {f}")
    print(f"{len(files)} config file(s) valid")
    return 0
