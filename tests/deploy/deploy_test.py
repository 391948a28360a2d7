#!/usr/bin/env python3
"""What of deploy/ can be checked offline (docs/deploy.md, "What was checked"):

1. The Containerfile installs a Debian package for every shared library the
   built binaries and plugins load (ldd, then dpkg -S).
2. The Kubernetes core kinds (ConfigMap, PersistentVolumeClaim) and the
   core-typed parts of the ServingRuntime (its containers and volumes, as a
   Pod) validate against Kubernetes' own schemas with kubernetes-validate
   (PyPI), when it is installed.
3. The KServe objects against each other and against the service: the kinds
   and API versions, the InferenceService naming the runtime, a model format
   and a protocol the runtime declares, its pvc:// storageUri naming the
   claim; every mounted volume declared; every daemon flag in the container's
   args known to the daemon (--help); the container port the ConfigMap's
   http.tcp_port.
4. The ConfigMap's vnode.yml starts the daemon (tokens file and port made
   local), which then accepts TCP connections on the port, as the
   readiness probe checks; a build without the HTTP front end refuses the
   http: section, which is reported as skipped.

    deploy_test.py <source root> <model-runtime.vnode> <ELF files...>
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

try:
    import yaml
except ImportError:
    print("no PyYAML for this interpreter: skipped")
    sys.exit(77)

root, daemon = sys.argv[1], sys.argv[2]
elf_files = sys.argv[3:]
deploy = os.path.join(root, "deploy")
results = {"passed": 0, "failed": 0, "skipped": 0}


def check(name, cond, detail=""):
    results["passed" if cond else "failed"] += 1
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"), flush=True)


def skip(name, why):
    results["skipped"] += 1
    print(f"skip {name}: {why}", flush=True)


def load(name):
    with open(os.path.join(deploy, "kserve", name)) as f:
        return yaml.safe_load(f)


# --- 1. the image's packages ------------------------------------------------------
containerfile = open(os.path.join(deploy, "Containerfile")).read()
install = re.search(r"apt-get install -y --no-install-recommends(.*?)&&", containerfile, re.S).group(1)
image_packages = set(install.replace("\\", " ").split())
if shutil.which("dpkg") is None or shutil.which("ldd") is None:
    skip("image packages", "no dpkg or ldd here")
else:
    libs = set()
    for f in elf_files:
        out = subprocess.run(["ldd", f], capture_output=True, text=True).stdout
        libs |= {m.group(1) for m in re.finditer(r"=> (/\S+)", out)}
    # A sanitizer build's runtimes (libasan, libubsan, ...) are never packaged.
    libs = {lib for lib in libs if not re.match(r"lib(a|ub|l|t|hwa)san\.so", os.path.basename(lib))}
    missing = []
    for lib in sorted(libs):
        real = os.path.realpath(lib)
        owner = ""
        for path in (real, lib, "*/" + os.path.basename(real)):  # /usr/lib vs /lib (usrmerge)
            r = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        if not owner:
            missing.append(f"{lib} (no Debian package owns it)")
        elif owner not in image_packages:
            missing.append(f"{lib} from {owner}")
    check(f"the Containerfile installs the packages of all {len(libs)} libraries", not missing, missing)

# --- 2. Kubernetes schemas ----------------------------------------------------------
config, pvc = load("vnode-config.yaml"), load("model-repository-pvc.yaml")
runtime, isvc = load("servingruntime.yaml"), load("inferenceservice.yaml")
try:
    import kubernetes_validate
except ImportError:
    kubernetes_validate = None
if kubernetes_validate is None:
    skip("Kubernetes schemas", "kubernetes-validate is not installed (pip install kubernetes-validate)")
else:
    version = kubernetes_validate.latest_version()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "servingruntime-containers"},
           "spec": {"containers": runtime["spec"]["containers"], "volumes": runtime["spec"]["volumes"]}}
    for name, obj in (("ConfigMap", config), ("PersistentVolumeClaim", pvc), ("ServingRuntime's containers", pod)):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
            check(f"{name} validates against Kubernetes {version}", True)
        except Exception as e:  # ValidationError, InvalidSchemaError: the message names the field
            check(f"{name} validates against Kubernetes {version}", False, str(e)[:400])

# --- 3. KServe objects, against each other and the service --------------------------
check("ServingRuntime kind", runtime["apiVersion"] == "serving.kserve.io/v1alpha1" and runtime["kind"] == "ServingRuntime")
check("InferenceService kind", isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService")
spec = runtime["spec"]
container = spec["containers"][0]
check("the runtime's container is kserve-container", container["name"] == "kserve-container")
protocols = spec.get("protocolVersions", [])
check("the runtime speaks KServe v2", "v2" in protocols and set(protocols) <= {"v1", "v2", "grpc-v1", "grpc-v2"}, protocols)
model = isvc["spec"]["predictor"]["model"]
formats = {f["name"] for f in spec["supportedModelFormats"]}
check("the InferenceService names the runtime", model["runtime"] == runtime["metadata"]["name"])
check("its model format is one the runtime serves", model["modelFormat"]["name"] in formats, (model, formats))
check("its protocol is one the runtime speaks", model.get("protocolVersion", "v1") in protocols)
uri = model["storageUri"]
check("its storageUri is the model-repository claim", uri.startswith("pvc://" + pvc["metadata"]["name"] + "/"), uri)
predictor = isvc["spec"]["predictor"]
check("replicas and scaling", 0 <= predictor["minReplicas"] <= predictor["maxReplicas"]
      and predictor["scaleMetric"] in ("concurrency", "rps", "cpu", "memory"), predictor)
volumes = {v["name"]: v for v in spec["volumes"]}
check("every mounted volume is declared", all(m["name"] in volumes for m in container["volumeMounts"]))
check("the config volume is the ConfigMap", volumes["config"]["configMap"]["name"] == config["metadata"]["name"])
help_text = subprocess.run([daemon, "--help"], capture_output=True, text=True).stdout
flags = [a.split("=")[0] for a in container["args"] if a.startswith("--")]
check("the daemon knows every flag in the args", all(f in help_text for f in flags), flags)
vnode = yaml.safe_load(config["data"]["vnode.yml"])
port = container["ports"][0]["containerPort"]
check("the container port is vnode.yml's http.tcp_port", vnode.get("http", {}).get("tcp_port") == port,
      (port, vnode.get("http")))
mounted_config = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "config")
check("--manifest is the mounted vnode.yml", f"--manifest={mounted_config}" in container["args"])
tokens_dir = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "tokens")
check("tokens_file is in the mounted Secret", vnode["http"]["tokens_file"].startswith(tokens_dir + "/"))
check("the models are KServe's mount", "--system-models=/mnt/models" in container["args"])

# --- 4. the pod's vnode.yml runs ----------------------------------------------------
tmp = tempfile.mkdtemp(prefix="mrt-deploy-")
proc = None
try:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    with open(os.path.join(tmp, "tokens"), "w") as f:
        f.write(f"{os.getuid()} deploy-test-token\n")
    os.chmod(os.path.join(tmp, "tokens"), 0o600)  # the daemon refuses a tokens file others can read
    vnode["http"]["tcp_port"] = free_port
    vnode["http"]["tokens_file"] = os.path.join(tmp, "tokens")
    with open(os.path.join(tmp, "vnode.yml"), "w") as f:
        yaml.safe_dump(vnode, f)
    log_path = os.path.join(tmp, "daemon.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([daemon, "--manifest", os.path.join(tmp, "vnode.yml"), "--socket",
                                 os.path.join(tmp, "svc.sock"), "--state-dir", os.path.join(tmp, "state"),
                                 "--system-models", os.path.join(root, "models")], stdout=log, stderr=subprocess.STDOUT)
    ready = False
    for _ in range(200):
        if proc.poll() is not None:
            break
        if "ready:" in open(log_path).read():
            ready = True
            break
        time.sleep(0.05)
    text = open(log_path).read()
    if not ready and "unknown key 'http'" in text:
        skip("the pod's vnode.yml", "this build has no HTTP front end (vnode.yml's http: section is unknown)")
    else:
        check("the pod's vnode.yml starts the daemon", ready, text[-1500:])
        listening = False
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", free_port), timeout=1).close()
                listening = True
                break
            except OSError:
                time.sleep(0.05)
        check("it accepts TCP connections on http.tcp_port (the readiness probe)", listening, text[-1500:])
finally:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)
    shutil.rmtree(tmp, ignore_errors=True)

line = f"{results['passed']} passed, {results['failed']} failed"
print(line + (f", {results['skipped']} skipped" if results["skipped"] else ""))
sys.exit(1 if results["failed"] else 0)
