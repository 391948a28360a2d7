#!/usr/bin/env bash
# Installs every Debian package that building and testing model-runtime
# needs. Idempotent: installs only what is missing. Run as root, or as a
# user with sudo. Tested on Debian 12 (bookworm).
set -euo pipefail

packages=(
  g++ pkg-config meson ninja-build cmake   # toolchain and build system
  libboost-dev                             # Boost.DLL (header-only) loads plugins; Beast + Asio serve the HTTP front ends
  libyaml-cpp-dev                          # model.yml and vnode.yml manifests
  libcli11-dev                             # command-line parsing for mrt and mrt-conformance
  libprotobuf-dev protobuf-compiler        # the IPC protocol (vnode/proto)
  python3-protobuf                         # the Python client's test (vnode/client/python), on Debian's python3
  libgrpc++-dev protobuf-compiler-grpc     # KServe v2 gRPC front end (vnode/proto/kserve_v2.proto): Debian's gRPC 1.51, built against the same protobuf 3.21 as the IPC protocol and ONNX, so no second protobuf
  libsystemd-dev                           # sd_notify readiness when run under systemd
  nlohmann-json3-dev                       # config.json, tokenizer.json and safetensors headers (plugins/raw); HTTP front ends' JSON
  libpcre2-dev                             # PCRE2: byte-level tokenizers' Unicode split patterns (plugins/raw)
  libdnnl-dev                              # oneDNN: the CPU backend's primitives (plugins/onednn)
  ocl-icd-opencl-dev                       # OpenCL: Debian's dnnl CMake config requires it (a Recommends, skipped by --no-install-recommends)
  libxxhash-dev                            # XXH3 content hashes: the CPU backend's shared weight cache
  libonnx-dev                              # ONNX protobuf definitions (plugins/onnx-frontend front end)
  libpng-dev                               # libpng: PNG decoding in the standard image stage (core)
  libseccomp-dev                           # libseccomp: the system-call allow-list of plugin worker processes (core)
  libturbojpeg0-dev                        # libjpeg-turbo's TurboJPEG API: JPEG decoding in the standard image stage (core)
  libstb-dev                               # stb_image_write makes the tests' images; stb_image is their reference decoder
  libgtest-dev libgmock-dev                # unit tests
  clang-14 libclang-rt-14-dev              # libFuzzer targets (scripts/fuzz.sh, tests/fuzz): clang and its fuzzer/sanitizer runtimes
  python3                                  # fixture generators in scripts/
  python3-venv                             # scripts/test-python-env: the venv the http-clients and grpc-clients tests install openai and tritonclient into
  systemd                                  # systemd-analyze: the unit-security test scores the shipped unit
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
