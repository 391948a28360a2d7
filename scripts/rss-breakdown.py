#!/usr/bin/env python3
"""Where the resident bytes of a model served by the service go.

Starts the service (model-runtime.vnode with the shipped vnode.yml) on one
model directory, loads the model, runs one request, then reads
/proc/<pid>/smaps of the service and of each plugin worker and sorts every
resident byte into: the plugin's weights and arenas (anonymous mappings of
1 MiB and more: the loaded graph's weights buffer, packed weights, call
arenas), the heap and small anonymous mappings, shared libraries (by
file), shared memory (frames' memfds), stacks and the rest. It prints
each process's VmRSS / VmHWM and the model's own account (`mrt info`:
host_bytes, what the plugin says it holds).

    python3 scripts/rss-breakdown.py ~/.cache/mrt-bench/zoo/resnet50 [--batch 1]

The model directory needs model.onnx (or another format's files), model.yml
and input_b<batch>/*.npy (what scripts/bench-zoo.py exports).
"""
import argparse
import collections
import os
import shutil
import signal
import subprocess
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smaps(pid):
    """(name, kind, rss kB, size kB) per mapping."""
    out, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                name = head[5] if len(head) > 5 else ""
                cur = {"name": name, "perms": head[1], "size": (hi - lo) // 1024, "rss": 0, "anon": 0, "shmem": 0}
                out.append(cur)
            elif head[0] == "Rss:":
                cur["rss"] = int(head[1])
            elif head[0] == "Anonymous:":
                cur["anon"] = int(head[1])
            elif head[0] in ("Shmem_PmdMapped:", "Shared_Hugetlb:"):
                pass
    return out


def status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def classify(m):
    n = m["name"]
    if n in ("[heap]",):
        return "heap"
    if n.startswith("[stack"):
        return "stacks"
    if n.startswith("/memfd:") or n.startswith("/dev/shm") or "(deleted)" in n and "memfd" in n:
        return "shared memory (memfd frames)"
    if n.startswith("/"):
        return "file: " + os.path.basename(n)
    if n.startswith("["):
        return "other " + n
    return "anonymous >= 1 MiB (weights, packed weights, arenas)" if m["size"] >= 1024 else "anonymous < 1 MiB (allocator, thread stacks)"


def report(title, pid, top):
    groups = collections.Counter()
    for m in smaps(pid):
        if m["rss"]:
            groups[classify(m)] += m["rss"]
    total = sum(groups.values())
    print("\n%s (pid %d): VmRSS %.1f MB, VmHWM %.1f MB" % (title, pid, status(pid, "VmRSS") / 1024, status(pid, "VmHWM") / 1024))
    files = sum(v for k, v in groups.items() if k.startswith("file: "))
    rows = [(k, v) for k, v in groups.items() if not k.startswith("file: ")]
    rows.append(("shared libraries and other files (all)", files))
    for k, v in sorted(rows, key=lambda kv: -kv[1]):
        print("  %-55s %8.1f MB  %5.1f%%" % (k, v / 1024, 100.0 * v / max(total, 1)))
    libs = sorted(((k[6:], v) for k, v in groups.items() if k.startswith("file: ")), key=lambda kv: -kv[1])[:top]
    for name, v in libs:
        print("      %-51s %8.1f MB" % (name, v / 1024))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--build", default=os.path.join(REPO_ROOT, "build"))
    ap.add_argument("--plugin", default="onednn")
    ap.add_argument("--top", type=int, default=8, help="largest files listed")
    args = ap.parse_args()
    name = os.path.basename(os.path.normpath(args.model_dir))
    work = tempfile.mkdtemp(prefix="mrt-rss-")
    try:
        mdir = os.path.join(work, "models", name)
        os.makedirs(mdir)
        for f in os.listdir(args.model_dir):
            p = os.path.join(args.model_dir, f)
            if os.path.isfile(p) and f != "model.yml":
                try:
                    os.link(p, os.path.join(mdir, f))
                except OSError:
                    shutil.copy(p, os.path.join(mdir, f))
        with open(os.path.join(args.model_dir, "model.yml")) as f:
            manifest = f.read().rstrip("\n") + "\nplugin: %s\n" % args.plugin
        with open(os.path.join(mdir, "model.yml"), "w") as f:
            f.write(manifest)
        with open(os.path.join(REPO_ROOT, "vnode", "model-runtime", "vnode.yml")) as f:
            vnode = f.read().replace("required_mem_mb: 256", "required_mem_mb: 16384")
        with open(os.path.join(work, "vnode.yml"), "w") as f:
            f.write(vnode)
        sock = os.path.join(work, "s.sock")
        mrt = os.path.join(args.build, "vnode", "mrt")
        daemon = subprocess.Popen([os.path.join(args.build, "vnode", "model-runtime.vnode"), "--socket", sock, "--state-dir",
                                   os.path.join(work, "state"), "--system-models", os.path.join(work, "models"), "--manifest",
                                   os.path.join(work, "vnode.yml"), "--log-level", "error", "--max-frame-bytes", str(1 << 30)])
        try:
            while not os.path.exists(sock):
                if daemon.poll() is not None:
                    raise SystemExit("the service did not start")
                time.sleep(0.01)
            subprocess.run([mrt, "load", name, "--socket", sock], check=True)
            ins = os.path.join(args.model_dir, "input_b%d" % args.batch)
            inputs = []
            for f in sorted(os.listdir(ins)):
                inputs += ["-i", "%s=%s" % (f[:-4], os.path.join(ins, f))]
            subprocess.run([mrt, "run", name, "--socket", sock, "-o", os.path.join(work, "out")] + inputs, check=True,
                           stdout=subprocess.DEVNULL)
            info = subprocess.run([mrt, "info", name, "--socket", sock], capture_output=True, text=True)
            print(info.stdout.strip())
            report("service", daemon.pid, args.top)
            kids = subprocess.run(["pgrep", "-P", str(daemon.pid)], capture_output=True, text=True).stdout.split()
            for k in kids:
                with open("/proc/%s/cmdline" % k, "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
                plugin = argv[argv.index("--plugin") + 1] if "--plugin" in argv else "?"
                report("worker of " + os.path.basename(plugin), int(k), args.top)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
