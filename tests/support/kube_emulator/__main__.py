# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpu_slicing.eks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CLI: ``serve`` (long-running emulator) and ``seed-nodes`` (create Nodes in a running one)."""

import argparse
import asyncio
import json
import logging
import os
import signal
import sys


LOG = logging.getLogger("kube_emulator")


async def _serve(args):
    import kmock

    from .launcher import load_crds, write_kubeconfig
    from .server import KubeApiServer

    handler = KubeApiServer(state_file=args.state_file, simulate_controllers=args.simulate_controllers)
    for crd in load_crds(args.crd):
        stored = handler.type_for("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        if handler._live(stored, None, crd["metadata"]["name"]) is None:
            handler.create_object(crd)
    rules = handler.cel_rules()
    enforced = [r for r in rules if r["enforced"]]
    LOG.info("CEL rules: %d enforced, %d skipped (GET /emulator/cel-rules for the list)", len(enforced), len(rules) - len(enforced))
    for rule in rules:
        if not rule["enforced"]:
            LOG.info("CEL rule skipped: %s %s: %s (%s)", rule["crd"], rule["path"], rule["rule"], rule["skip_reason"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    background = []  # the loop keeps only weak references to tasks: hold the watcher until we stop
    if args.exit_with_parent:
        background.append(loop.create_task(_watch_parent(os.getppid(), stop)))
    async with handler, kmock.Server(handler, host=args.host, port=args.port or None) as server:
        url = "http://%s:%d" % (args.host, server.port)
        if args.kubeconfig:
            write_kubeconfig(args.kubeconfig, url)
        if args.pidfile:
            with open(args.pidfile, "w") as handle:
                handle.write("%d\n" % os.getpid())
        print(json.dumps({"url": url, "pid": os.getpid(), "kubeconfig": args.kubeconfig}), flush=True)
        LOG.info("serving on %s (pid %d)", url, os.getpid())
        await stop.wait()
    handler.save_state()
    if args.pidfile and os.path.exists(args.pidfile):
        os.unlink(args.pidfile)


async def _watch_parent(parent, stop):
    """Stop when the process that started us is gone (a killed test run must not leak servers)."""
    while not stop.is_set():
        if os.getppid() != parent:
            LOG.info("parent process %d is gone: stopping", parent)
            stop.set()
        await asyncio.sleep(1)


def _seed(args):
    import yaml as _yaml

    from .seeding import create_nodes

    with open(args.kubeconfig) as handle:
        config = _yaml.safe_load(handle)
    current = config.get("current-context")
    context = next(c["context"] for c in config["contexts"] if c["name"] == current)
    url = next(c["cluster"]["server"] for c in config["clusters"] if c["name"] == context["cluster"])
    with open(args.nodes) as handle:
        nodes = _yaml.safe_load(handle)
    if isinstance(nodes, dict):
        nodes = nodes.get("items") or [nodes]
    stored = create_nodes(url, nodes)
    print(json.dumps({"nodes": [n["metadata"]["name"] for n in stored]}))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="kube_emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the emulated API server until SIGTERM")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 = any free port (the URL is printed on stdout)")
    serve.add_argument("--kubeconfig", help="write a kubeconfig for the server here")
    serve.add_argument("--crd", action="append", default=[], help="CRD YAML file to install (repeatable)")
    serve.add_argument("--pidfile")
    serve.add_argument("--state-file", help="load objects from / save them to this JSON file")
    serve.add_argument("--simulate-controllers", action="store_true",
                       help="write the status healthy controllers would (workloads ready, NodePools Ready); see controllers.py")
    serve.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process exits (used by the test launcher)")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    seed = sub.add_parser("seed-nodes", help="create or update Nodes in a running emulator")
    seed.add_argument("--kubeconfig", required=True)
    seed.add_argument("--nodes", required=True, help="JSON or YAML: a list of Node dicts (or a NodeList)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        if not args.verbose:
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
        asyncio.run(_serve(args))
    else:
        _seed(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
