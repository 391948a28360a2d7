"""The FP32 peak the benchmarks state their GFLOP/s against, two ways:

- nominal: cores x FLOP/cycle (FMA pipes x SIMD lanes x 2) x the clock lscpu
  or /proc/cpuinfo reports (a VM's base clock when the max is hidden);
- measured: build/tests/fma-peak, independent FMA chains on every thread,
  run beside the workload. It sees turbo and vCPUs that share a core, so it
  is the stricter and truer of the two.
"""
import platform
import re
import subprocess


def cpu_info():
    """(model name, vendor, family, flags, MHz or None, how the MHz was found)."""
    name, vendor, family, flags, mhz, src = platform.processor(), "", "", set(), None, ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        name = fields.get("Model name", name)
        vendor = fields.get("Vendor ID", "")
        family = fields.get("CPU family", "")
        flags = set(fields.get("Flags", "").split())
        if fields.get("CPU max MHz"):
            mhz, src = float(fields["CPU max MHz"]), "lscpu CPU max MHz"
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass
    if mhz is None:
        # VMs often hide the max clock; the current one is the next best guess.
        try:
            with open("/proc/cpuinfo") as f:
                m = re.search(r"^cpu MHz\s*:\s*([\d.]+)", f.read(), re.M)
            if m:
                mhz, src = float(m.group(1)), "/proc/cpuinfo cpu MHz"
        except OSError:
            pass
    return name, vendor, family, flags, mhz, src


def fp32_flops_per_cycle(vendor, family, flags):
    """(FP32 FLOP per cycle per core, explanation).

    2 FMA pipes x SIMD lanes x 2 FLOP per FMA. AVX-512 gives 16 lanes, but
    Zen 4 (AMD family 25) runs 512-bit ops on 256-bit pipes, so its
    throughput is that of 8 lanes.
    """
    lanes, isa = 4, "SSE"
    if "avx512f" in flags:
        lanes, isa = 16, "AVX-512"
        if vendor == "AuthenticAMD" and family == "25":
            lanes, isa = 8, "AVX-512 on 256-bit pipes (Zen 4)"
    elif "avx2" in flags and "fma" in flags:
        lanes, isa = 8, "AVX2"
    return 2 * lanes * 2, "2 FMA pipes x %d lanes (%s) x 2 FLOP/FMA" % (lanes, isa)


def nominal_peak(threads, clock_ghz=None, flops_per_cycle=None):
    """Nominal FP32 GFLOP/s of `threads` cores, and a line saying how it was computed."""
    name, vendor, family, flags, mhz, src = cpu_info()
    if clock_ghz:
        mhz, src = clock_ghz * 1000, "--clock-ghz"
    per_cycle, why = fp32_flops_per_cycle(vendor, family, flags)
    if flops_per_cycle:
        per_cycle, why = flops_per_cycle, "--flops-per-cycle"
    if not mhz:
        return None, "peak: unknown clock (pass --clock-ghz)"
    peak = threads * per_cycle * mhz / 1000
    line = ("peak: %d cores x %d FP32 FLOP/cycle [%s] x %.2f GHz [%s] = %.1f GFLOP/s (%s)"
            % (threads, per_cycle, why, mhz / 1000, src, peak, name))
    if src.startswith("/proc"):
        # Without a max clock (VMs) the nominal clock is all we see; turbo can
        # then put a well-tuned kernel above 100%.
        line += "; nominal clock, turbo not counted"
    return peak, line


def measured_peak(tool, threads):
    """GFLOP/s that `threads` FMA-only threads reach now, or None without the tool."""
    try:
        out = subprocess.run([tool, str(threads)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return float(re.search(r"fma_peak_gflops=([\d.]+)", out).group(1))
