#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of `egpuctl guest check` and `egpuctl bench` against fake-ollama.py, the real Vulkan
loader with Mesa's lavapipe, and the umockdev guest scenarios of scenarios/.

Usage: test-guest.py GROUP [unittest args]   GROUP: bench, errors, vulkan, scenarios, all
Environment: EGPUCTL (the binary, default build/egpuctl), TOP_SRCDIR (default: two folders up).
"""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("TOP_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
EGPUCTL = os.environ.get("EGPUCTL") or os.path.join(TOP, "build", "egpuctl")
FAKE = os.path.join(HERE, "fake-ollama.py")
RUN_SCENARIO = os.path.join(TOP, "tests", "run-scenario")
SCENARIOS = os.path.join(HERE, "scenarios")

LVP_ICDS = sorted(glob.glob("/usr/share/vulkan/icd.d/lvp_icd.*.json"))


def have_umockdev():
    return shutil.which("umockdev-run") is not None


def have_vulkan_loader():
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        if os.path.exists(os.path.join(d, "libvulkan.so.1")):
            return True
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    return "libvulkan.so.1" in out


class FakeOllama:
    """fake-ollama.py on a free port, for one test."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, FAKE, "--port", "0", *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"fake-ollama did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def free_port():
    """A port on which nothing listens (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(lavapipe=True):
    env = dict(os.environ)
    env.pop("EGPUCTL_VULKAN_LOADER", None)
    env["NO_COLOR"] = "1"
    if lavapipe and LVP_ICDS:
        # Only Mesa's CPU driver: results do not depend on the machine's GPUs.
        env["VK_DRIVER_FILES"] = LVP_ICDS[0]
        env["VK_ICD_FILENAMES"] = LVP_ICDS[0]
    return env


def egpuctl(*args, env=None, scenario=None, timeout=60):
    cmd = [EGPUCTL, *args]
    if scenario:
        cmd = [RUN_SCENARIO, os.path.join(SCENARIOS, scenario), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=env or base_env(), timeout=timeout,
                          errors="surrogateescape")


def assert_no_terminal_escapes(test, text):
    for bad in ("\x1b", "\x07", "\x9b"):
        test.assertNotIn(bad, text)


class BenchTests(unittest.TestCase):
    """The figures: the fake reports fixed counts and durations, so tokens/s are known exactly."""

    def bench_json(self, fake_args=(), bench_args=(), scenario=None):
        with FakeOllama(*fake_args) as fake:
            r = egpuctl("bench", "--url", fake.url, "--json", *bench_args, scenario=scenario)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_figures(self):
        # eval_count 128 over 2.0, 1.6, 1.0, 1.6, 3.2 s: 64, 80, 128, 80, 40 tokens/s.
        j = self.bench_json(bench_args=("--runs", "5", "--bandwidth", "409.6"))
        e = j["eval_tokens_per_s"]
        self.assertEqual(e["median"], 80.0)
        self.assertEqual(e["min"], 40.0)
        self.assertEqual(e["max"], 128.0)
        self.assertEqual(e["q1"], 64.0)
        self.assertEqual(e["q3"], 80.0)
        self.assertEqual(e["n"], 5)
        # 5 ms per prompt token evaluated: 200 tokens/s, give or take the BOS token the cache may hold
        self.assertAlmostEqual(j["prompt_tokens_per_s"]["median"], 200.0, delta=2.0)
        # the warm-up's load_duration
        self.assertEqual(j["load_duration_s"], 2.5)
        # 409.6 GB/s over 2.048 GB per token
        self.assertAlmostEqual(j["bound_tokens_per_s"], 200.0, places=6)
        self.assertAlmostEqual(j["share_of_bound"], 0.4, places=6)
        self.assertTrue(j["fully_on_gpu"])
        self.assertEqual(j["size_vram"], 2048000000)
        self.assertEqual(len(j["samples"]), 5)
        self.assertEqual(j["samples"][0]["eval_duration"], 2000000000)
        self.assertEqual(j["model"], "llama3.2")
        self.assertEqual(j["seed"], 42)

    def test_even_runs(self):
        # 64, 80, 128, 40: the median is the mean of 64 and 80.
        j = self.bench_json(bench_args=("--runs", "4"),
                            fake_args=("--eval-durations", "2000000000,1600000000,1000000000,3200000000"))
        self.assertEqual(j["eval_tokens_per_s"]["median"], 72.0)

    @unittest.skipUnless(have_umockdev(), "umockdev-run not installed")
    def test_bound_for_the_vega56_on_the_bus(self):
        # The GPU comes from the guest's PCI bus: 1002:687f rev c3 in the scenario, 409.6 GB/s.
        j = self.bench_json(bench_args=("--runs", "3"), scenario="guest-amdgpu")
        self.assertEqual(j["gpu"]["slot"], "0000:01:00.0")
        self.assertEqual(j["gpu"]["vendor_id"], "1002")
        self.assertEqual(j["gpu"]["device_id"], "687f")
        self.assertEqual(j["gpu"]["name"], "Vega 10 XL/XT [Radeon RX Vega 56/64]")  # udev's hwdb
        self.assertEqual(j["gpu"]["vendor_name"], "Advanced Micro Devices, Inc. [AMD/ATI]")
        self.assertEqual(j["gpu"]["boards"], "Radeon RX Vega 56")  # revision c3 (gpu-bandwidth.table)
        self.assertEqual(j["gpu"]["bandwidth_gb_per_s"], 409.6)
        self.assertAlmostEqual(j["bound_tokens_per_s"], 200.0, places=6)
        # 64, 80, 128
        self.assertEqual(j["eval_tokens_per_s"]["median"], 80.0)
        self.assertAlmostEqual(j["share_of_bound"], 0.4, places=6)

    @unittest.skipUnless(have_umockdev(), "umockdev-run not installed")
    def test_text_output(self):
        with FakeOllama() as fake:
            r = egpuctl("bench", "--url", fake.url, "--runs", "5", scenario="guest-amdgpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("80.0 tokens/s median (min 40.0, max 128.0)", r.stdout)
        self.assertIn("Bound:        200.0 tokens/s (409.6 GB/s / 2.05 GB read per token); reached 40%", r.stdout)
        self.assertIn("Vega 10 XL/XT [Radeon RX Vega 56/64] (Radeon RX Vega 56: 409.6 GB/s)", r.stdout)
        self.assertNotIn("Warning", r.stdout)
        self.assertEqual(r.stderr, "")  # no progress line when stdout is not a tty

    def test_partly_on_cpu(self):
        # Half the model on the CPU: the GPU's bandwidth bounds nothing, and bench says so instead of a bound.
        j = self.bench_json(fake_args=("--mode", "partial"), bench_args=("--runs", "2", "--bandwidth", "409.6"))
        self.assertFalse(j["fully_on_gpu"])
        self.assertEqual(j["size"], 2048000000)
        self.assertEqual(j["size_vram"], 1024000000)
        self.assertIn("model not fully in GPU memory", j["warnings"])
        self.assertIsNone(j["bound_tokens_per_s"])
        self.assertIsNone(j["share_of_bound"])
        self.assertIn("only partly in GPU memory", j["bound_note"])
        with FakeOllama("--mode", "partial") as fake:
            r = egpuctl("bench", "--url", fake.url, "--runs", "2", "--bandwidth", "409.6")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("not fully in GPU memory", r.stdout)
        self.assertIn("loaded 2.05 GB, 1.02 GB of it in GPU memory (50%): only partly on the GPU", r.stdout)
        self.assertIn("Bound:        none: the model is only partly in GPU memory", r.stdout)
        self.assertNotIn("reached", r.stdout)

    def test_bound_from_the_weights(self):
        # /api/ps: 3.4 GB loaded (weights, KV cache, buffers), all in GPU memory; the model's files are 2.0 GB.
        # Decoding reads the weights: 409.6 GB/s over 2.0 GB, not over 3.4 GB.
        j = self.bench_json(fake_args=("--size", "3400000000", "--size-vram", "3400000000",
                                       "--weights", "2000000000"),
                            bench_args=("--runs", "5", "--bandwidth", "409.6"))
        self.assertEqual(j["weights_bytes"], 2000000000)
        self.assertEqual(j["bytes_per_token"], 2000000000)
        self.assertEqual(j["size_vram"], 3400000000)
        self.assertAlmostEqual(j["bound_tokens_per_s"], 204.8, places=6)
        self.assertAlmostEqual(j["share_of_bound"], 80.0 / 204.8, places=6)
        self.assertTrue(j["bound_holds"])
        self.assertIsNone(j["mixture_of_experts"])

    def test_never_a_share_above_the_bound(self):
        # 128 tokens in 0.4 s: 320 tokens/s, above the 200 the bandwidth allows: the bound does not hold.
        fake = ("--eval-durations", "400000000")
        j = self.bench_json(fake_args=fake, bench_args=("--runs", "3", "--bandwidth", "409.6"))
        self.assertEqual(j["eval_tokens_per_s"]["median"], 320.0)
        self.assertAlmostEqual(j["bound_tokens_per_s"], 200.0, places=6)
        self.assertIsNone(j["share_of_bound"])
        self.assertFalse(j["bound_holds"])
        self.assertIn("does not hold", j["bound_note"])
        with FakeOllama(*fake) as f:
            r = egpuctl("bench", "--url", f.url, "--runs", "3", "--bandwidth", "409.6")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the bound does not hold here", r.stdout)
        self.assertNotIn("reached", r.stdout)
        self.assertNotIn("160%", r.stdout)

    def test_mixture_of_experts(self):
        # 8 experts, 2 per token: of the 272,000 bytes of expert tensors, 6/8 are not read for a token.
        with FakeOllama("--moe", "--weights", "500000") as fake:
            r = egpuctl("bench", "--url", fake.url, "--runs", "2", "--bandwidth", "296", "--json")
            t = egpuctl("bench", "--url", fake.url, "--runs", "2", "--bandwidth", "296")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual(j["mixture_of_experts"], {"expert_count": 8, "expert_used_count": 2})
        self.assertEqual(j["weights_bytes"], 500000)
        self.assertEqual(j["bytes_per_token"], 500000 - 204000)
        self.assertAlmostEqual(j["bound_tokens_per_s"], 296e9 / 296000, places=3)
        self.assertIn("a mixture of experts (2 of 8 experts per token)", t.stdout)
        self.assertIn("the weights less the experts not in use", t.stdout)

    def test_prompt_rate_from_uncached_tokens(self):
        # The fake gives from its cache what the previous prompt shares with this one and reports, as Ollama
        # 0.30.1 does, every prompt token in prompt_eval_count but times only the evaluated ones. Each run's
        # prompt must differ from the one before from its start, so that the rate is that of evaluated tokens
        # (200/s here); the same prompt again would count ~300 tokens against one token's time.
        with FakeOllama("--prompt-token-ns", "5000000") as fake:
            r = egpuctl("bench", "--url", fake.url, "--runs", "3", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertAlmostEqual(j["prompt_tokens_per_s"]["median"], 200.0, delta=2.0)
        self.assertAlmostEqual(j["prompt_tokens_per_s"]["max"], 200.0, delta=2.0)
        self.assertIn("sent raw", j["prompt_cache"])
        for s_ in j["samples"]:
            self.assertGreater(s_["prompt_eval_count"], 250)

    def test_statistics_left_out(self):
        # Ollama leaves out a statistic that is 0 (omitempty): the answer is not malformed for that.
        j = self.bench_json(fake_args=("--omit", "prompt_eval_duration,load_duration"), bench_args=("--runs", "2"))
        self.assertIsNone(j["prompt_tokens_per_s"])
        self.assertEqual(j["load_duration_s"], 0.0)
        self.assertEqual(j["eval_tokens_per_s"]["n"], 2)
        with FakeOllama("--omit", "prompt_eval_duration") as fake:
            r = egpuctl("bench", "--url", fake.url, "--runs", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Prompt:       not measured (Ollama reported no prompt_eval_duration)", r.stdout)
        # with no eval_duration at all there is no rate to give
        with FakeOllama("--omit", "eval_duration") as fake:
            r = egpuctl("bench", "--url", fake.url, "--runs", "2")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no eval_duration in any run", r.stderr)

    def test_partly_on_cpu_in_guest_check(self):
        with FakeOllama("--mode", "partial") as fake:
            egpuctl("bench", "--url", fake.url, "--runs", "1")  # loads the model
            r = egpuctl("guest", "check", "--json", "--url", fake.url)
        j = json.loads(r.stdout)
        c = {x["id"]: x for x in j["checks"]}["guest-ollama"]
        self.assertEqual(c["status"], "warn")
        self.assertIn("llama3.2:latest has 976.6 MiB of 1.9 GiB (50%) in GPU memory", c["summary"])


class ErrorTests(unittest.TestCase):
    """Each failure gives a clear message and exit status 1."""

    def bench_fails(self, fake_args, *expected, bench_args=()):
        with FakeOllama(*fake_args) as fake:
            r = egpuctl("bench", "--url", fake.url, "--runs", "2", *bench_args)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        for e in expected:
            self.assertIn(e, r.stderr)
        return r

    def test_server_down(self):
        url = f"http://127.0.0.1:{free_port()}"
        r = egpuctl("bench", "--url", url)
        self.assertEqual(r.returncode, 1)
        self.assertIn("connection refused", r.stderr)
        self.assertIn("Ollama is not running at " + url, r.stderr)
        r = egpuctl("guest", "check", "--json", "--url", url)
        self.assertEqual(r.returncode, 1)
        c = {x["id"]: x for x in json.loads(r.stdout)["checks"]}["guest-ollama"]
        self.assertEqual(c["status"], "fail")
        self.assertIn("connection refused", c["summary"])
        self.assertIn("systemctl enable --now ollama", c["fix"])

    def test_model_missing(self):
        self.bench_fails(("--mode", "missing"), "HTTP 404: model 'nonexistent' not found", "ollama pull nonexistent",
                         bench_args=("--model", "nonexistent"))
        # A model the fake does not have, in normal mode, too.
        self.bench_fails((), "model 'mistral' not found", bench_args=("--model", "mistral"))

    def test_timeout(self):
        start = time.monotonic()
        self.bench_fails(("--mode", "slow", "--delay", "10"), "no answer within 1.0 s", "raise --timeout",
                         bench_args=("--timeout", "1"))
        self.assertLess(time.monotonic() - start, 8)

    def test_malformed_json(self):
        self.bench_fails(("--mode", "malformed"), "malformed JSON in the answer to /api/generate")

    def test_truncated_json(self):
        self.bench_fails(("--mode", "truncated"), "truncated JSON in the answer to /api/generate")

    def test_connection_cut(self):
        self.bench_fails(("--mode", "short"), "/api/generate", "truncated")

    def test_hostile_strings(self):
        """Names from Ollama reach the terminal printable, and JSON valid."""
        with FakeOllama("--mode", "hostile") as fake:
            egpuctl("bench", "--url", fake.url, "--runs", "1")
            t = egpuctl("guest", "check", "--url", fake.url)
            j = egpuctl("guest", "check", "--json", "--url", fake.url)
        assert_no_terminal_escapes(self, t.stdout)
        self.assertIn("evil\\x1b[31m\\x1b]0;pwned\\x07model\\xff", t.stdout)
        c = {x["id"]: x for x in json.loads(j.stdout)["checks"]}["guest-ollama"]
        self.assertIn("evil\x1b[31m\x1b]0;pwned\x07model\ufffd", c["summary"])
        self.assertNotIn("\x1b", j.stdout)  # escaped as \u001b by the JSON encoder

    def test_usage(self):
        for args in (("bench", "--runs", "0"), ("bench", "--runs", "x"), ("bench", "extra"),
                     ("bench", "--timeout", "-1"), ("bench", "--bandwidth", "fast"), ("guest",),
                     ("guest", "inspect"), ("guest", "check", "more"), ("guest", "check", "--timeout", "0")):
            r = egpuctl(*args)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stdout} {r.stderr}")
            self.assertNotEqual(r.stderr, "")


@unittest.skipUnless(have_vulkan_loader() and LVP_ICDS,
                     "needs the Vulkan loader and lavapipe (Debian: libvulkan1 mesa-vulkan-drivers)")
class VulkanTests(unittest.TestCase):
    """guest-vulkan through the real loader, with lavapipe as the only driver."""

    def check(self, env, scenario=None):
        with FakeOllama() as fake:
            r = egpuctl("guest", "check", "--json", "--url", fake.url, env=env, scenario=scenario)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        j = json.loads(r.stdout)
        return j, {x["id"]: x for x in j["checks"]}["guest-vulkan"]

    def test_lavapipe(self):
        j, c = self.check(base_env())
        devices = j["vulkan_devices"]
        self.assertGreaterEqual(len(devices), 1)
        lvp = devices[0]
        self.assertIn("llvmpipe", lvp["name"])
        self.assertEqual(lvp["type"], "cpu")
        self.assertEqual(lvp["driver_name"], "llvmpipe")
        self.assertTrue(lvp["heaps"])
        self.assertIn("only a CPU (software) Vulkan device was found", c["summary"])
        self.assertIn("llvmpipe", c["summary"])
        self.assertIn(c["status"], ("warn", "fail"))

    @unittest.skipUnless(have_umockdev(), "umockdev-run not installed")
    def test_lavapipe_with_an_amd_gpu(self):
        j, c = self.check(base_env(), scenario="guest-amdgpu")
        self.assertEqual(c["status"], "fail")
        # the vendor as udev's hwdb names it
        self.assertIn("only a CPU (software) Vulkan device was found, no Advanced Micro Devices, Inc. [AMD/ATI] GPU",
                      c["summary"])
        self.assertIn("mesa-vulkan-drivers", c["fix"])

    def test_loader_missing(self):
        env = base_env()
        env["EGPUCTL_VULKAN_LOADER"] = "/nonexistent/libvulkan.so.1"
        j, c = self.check(env)
        self.assertEqual(j["vulkan_devices"], [])
        self.assertIn("the Vulkan loader (/nonexistent/libvulkan.so.1) is not available", c["summary"])
        self.assertIn("libvulkan1", c["fix"])
        self.assertIn(c["status"], ("warn", "fail"))

    def test_no_driver(self):
        env = base_env(lavapipe=False)
        env["VK_DRIVER_FILES"] = env["VK_ICD_FILENAMES"] = "/nonexistent/icd.json"
        j, c = self.check(env)
        self.assertEqual(j["vulkan_devices"], [])
        self.assertIn(c["status"], ("warn", "fail"))


@unittest.skipUnless(have_umockdev(), "umockdev-run not installed")
class ScenarioTests(unittest.TestCase):
    """guest check inside each scenario of scenarios/, against its expect.json."""

    def prepare_root(self, scenario, in_render=True):
        """A copy of the scenario's root/ with dev/dri/renderD128, owned by our group, which etc/group
        names render (git keeps neither device nodes nor owners)."""
        tmp = tempfile.mkdtemp(prefix="egpuctl-guest-")
        self.addCleanup(shutil.rmtree, tmp)
        root = os.path.join(tmp, "root")
        shutil.copytree(os.path.join(SCENARIOS, scenario, "root"), root, symlinks=True)
        os.makedirs(os.path.join(root, "dev", "dri"))
        node = os.path.join(root, "dev", "dri", "renderD128")
        open(node, "w").close()
        os.chmod(node, 0o660)
        group = os.path.join(root, "etc", "group")
        with open(group) as f:
            text = f.read().replace("@RENDER_GID@", str(os.getgid()))
        if not in_render:
            text = text.replace("render:x:%d:ubuntu,ollama" % os.getgid(), "render:x:%d:ubuntu" % os.getgid())
        with open(group, "w") as f:
            f.write(text)
        return root

    def run_check(self, scenario, root):
        with open(os.path.join(SCENARIOS, scenario, "expect.json")) as f:
            expect = json.load(f)
        with FakeOllama("--mode", expect["ollama"]["mode"], "--version", expect["ollama"]["version"]) as fake:
            r = egpuctl("guest", "check", "--json", "--root", root, "--url", fake.url, scenario=scenario)
            t = egpuctl("guest", "check", "--root", root, "--url", fake.url, scenario=scenario)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        assert_no_terminal_escapes(self, t.stdout)
        j = json.loads(r.stdout)
        checks = {x["id"]: x for x in j["checks"]}
        self.assertEqual(set(checks), {"guest-gpu", "guest-driver", "guest-dri", "guest-vulkan", "guest-rocm",
                                       "guest-ollama"})
        self.assertEqual(r.returncode, 1 if j["result"] == "fail" else 0)
        for x in j["checks"]:
            self.assertIn(x["status"], ("ok", "warn", "fail", "skip"))
        return expect, checks, t.stdout

    def check_scenario(self, scenario):
        expect, checks, text = self.run_check(scenario, self.prepare_root(scenario))
        for cid, status in expect["checks"].items():
            self.assertEqual(checks[cid]["status"], status, f"{scenario} {cid}: {checks[cid]['summary']}")
        self.assertIn(expect["gpu"]["slot"], checks["guest-gpu"]["summary"])
        return checks, text

    def test_amdgpu(self):
        checks, text = self.check_scenario("guest-amdgpu")
        self.assertIn("1002:687f", checks["guest-gpu"]["summary"])
        self.assertNotIn("1234:1111", checks["guest-gpu"]["summary"])  # QEMU's VGA is not the GPU
        self.assertIn("amdgpu", checks["guest-driver"]["summary"])
        self.assertIn("/dev/dri/renderD128 (group render, mode 0660) can be opened by ollama",
                      checks["guest-dri"]["summary"])
        self.assertIn("gfx900", checks["guest-rocm"]["summary"])
        self.assertIn("OLLAMA_VULKAN=1", checks["guest-rocm"]["summary"])
        # text: worst first
        lines = [l for l in text.splitlines() if l[:4] in ("ok  ", "warn", "fail", "skip")]
        order = {"fail": 0, "warn": 1, "ok  ": 2, "skip": 3}
        self.assertEqual([order[l[:4]] for l in lines], sorted(order[l[:4]] for l in lines))

    def test_no_driver(self):
        checks, _ = self.check_scenario("guest-no-driver")
        self.assertIn("no kernel driver is bound to 0000:01:00.0", checks["guest-driver"]["summary"])
        fix = checks["guest-driver"]["fix"]
        self.assertIn("linux-modules-extra-$(uname -r)", fix)  # Ubuntu 24.04, as in the seed
        self.assertIn("linux-firmware", fix)
        self.assertIn("modprobe amdgpu", fix)
        self.assertIn("no DRM render node", checks["guest-dri"]["summary"])

    def test_rocm_only(self):
        checks, _ = self.check_scenario("guest-rocm-only")
        c = checks["guest-rocm"]
        self.assertIn("gfx900", c["summary"])
        self.assertIn("no OLLAMA_VULKAN=1 in ollama.service", c["summary"])
        self.assertIn("HSA_OVERRIDE_GFX_VERSION does not help", c["summary"])
        self.assertIn("Environment=OLLAMA_VULKAN=1", c["fix"])
        self.assertIn("Vulkan not enabled", checks["guest-ollama"]["summary"])

    def rocm_check(self, scenario, version, environment=None):
        """guest-rocm and guest-ollama with Ollama at version and, when given, an Environment= line for
        OLLAMA_VULKAN in a drop-in of ollama.service."""
        root = self.prepare_root(scenario)
        if environment is not None:
            d = os.path.join(root, "etc", "systemd", "system", "ollama.service.d")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "zz-vulkan.conf"), "w") as f:
                f.write("[Service]\nEnvironment=" + environment + "\n")
        with FakeOllama("--version", version) as fake:
            r = egpuctl("guest", "check", "--json", "--root", root, "--url", fake.url, scenario=scenario)
        checks = {x["id"]: x for x in json.loads(r.stdout)["checks"]}
        return checks["guest-rocm"], checks["guest-ollama"]

    def test_ollama_vulkan_as_ollama_reads_it(self):
        # envconfig: spaces, then quotes trimmed; a Go boolean means itself, any other non-empty value true.
        for env in ("OLLAMA_VULKAN=yes", '"OLLAMA_VULKAN= 1 "', "OLLAMA_VULKAN='true'", "OLLAMA_VULKAN=on"):
            rocm, ollama = self.rocm_check("guest-rocm-only", "0.18.2", env)
            self.assertEqual(rocm["status"], "ok", f"{env}: {rocm['summary']}")
            self.assertIn("which Ollama reads as true", rocm["summary"])
            self.assertIn("Vulkan enabled", ollama["summary"])
        for env in ("OLLAMA_VULKAN=0", "OLLAMA_VULKAN=false", '"OLLAMA_VULKAN= F "'):
            rocm, ollama = self.rocm_check("guest-rocm-only", "0.18.2", env)
            self.assertEqual(rocm["status"], "warn", f"{env}: {rocm['summary']}")
            self.assertIn("OLLAMA_VULKAN is set to a value Ollama reads as false", rocm["summary"])
        # empty once trimmed: unset, as in Ollama
        rocm, _ = self.rocm_check("guest-rocm-only", "0.18.2", "\"OLLAMA_VULKAN=''\"")
        self.assertIn("no OLLAMA_VULKAN=1 in ollama.service", rocm["summary"])

    def test_rc_versions(self):
        # Vulkan is on by default from 0.30.0-rc24 on; rc0 to rc23 still had it off, and an rc comes before
        # its release.
        for version, status in (("0.30.0-rc5", "warn"), ("0.30.0-rc23", "warn"), ("0.30.0-rc24", "ok"),
                                ("0.30.0", "ok"), ("0.29.9", "warn")):
            rocm, _ = self.rocm_check("guest-rocm-only", version)
            self.assertEqual(rocm["status"], status, f"{version}: {rocm['summary']}")
        rocm, _ = self.rocm_check("guest-rocm-only", "0.30.0-rc24")
        self.assertIn("on by default in this version", rocm["summary"])
        # before 0.12.11 there is no OLLAMA_VULKAN to set
        rocm, ollama = self.rocm_check("guest-rocm-only", "0.12.10", "OLLAMA_VULKAN=1")
        self.assertIn("no OLLAMA_VULKAN: it came in 0.12.11", ollama["summary"])

    def test_gfx900_before_ollama_dropped_it(self):
        # What dropped gfx900 is Ollama's own build, in 0.12.4 (PR 12245): 0.12.3's ROCm runner has it.
        rocm, _ = self.rocm_check("guest-rocm-only", "0.12.3")
        self.assertEqual(rocm["status"], "ok", rocm["summary"])
        self.assertIn("Ollama 0.12.3's ROCm runner still has kernels for it", rocm["summary"])
        rocm, _ = self.rocm_check("guest-rocm-only", "0.12.4")
        self.assertEqual(rocm["status"], "warn", rocm["summary"])
        self.assertIn("removed from Ollama's ROCm build in 0.12.4 (ollama PR 12245", rocm["summary"])

    def test_user_not_in_render(self):
        scenario = "guest-amdgpu"
        _, checks, _ = self.run_check(scenario, self.prepare_root(scenario, in_render=False))
        c = checks["guest-dri"]
        self.assertEqual(c["status"], "fail")
        self.assertIn("ollama (runs Ollama) cannot open /dev/dri/renderD128", c["summary"])
        self.assertIn("usermod -aG render ollama", c["fix"])


GROUPS = {
    "bench": [BenchTests],
    "errors": [ErrorTests],
    "vulkan": [VulkanTests],
    "scenarios": [ScenarioTests],
}
GROUPS["all"] = [c for g in ("bench", "errors", "vulkan", "scenarios") for c in GROUPS[g]]


def main():
    group = sys.argv[1] if len(sys.argv) > 1 else "all"
    if group not in GROUPS:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.access(EGPUCTL, os.X_OK):
        print(f"test-guest: {EGPUCTL} is not there; set EGPUCTL", file=sys.stderr)
        return 1
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(c) for c in GROUPS[group])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
